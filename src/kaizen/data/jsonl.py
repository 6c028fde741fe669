"""JSONL reading that keeps line numbers, and atomic writing that never clobbers good data."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kaizen.data.errors import DataError, DataIssue


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | DataIssue]]:
    """Yield ``(line_number, row)`` for each non-blank line; a bad line yields a ``DataIssue``."""
    path = Path(path)
    if not path.exists():
        raise DataError(DataIssue(str(path), None, None, "file not found"))
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield number, DataIssue(str(path), number, None, f"malformed JSON: {e.msg} at column {e.colno}")
                continue
            if not isinstance(row, dict):
                yield number, DataIssue(str(path), number, None, f"expected a JSON object, got {type(row).__name__}")
                continue
            yield number, row


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """All rows with their line numbers; raises ``DataError`` listing every malformed line."""
    rows, issues = [], []
    for number, row in iter_jsonl(path):
        (issues if isinstance(row, DataIssue) else rows).append(row if isinstance(row, DataIssue) else (number, row))
    if issues:
        raise DataError(issues)
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (temp file + rename), so a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data files are shared like any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row durably (metrics logs, feedback)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
