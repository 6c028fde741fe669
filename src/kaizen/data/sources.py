"""Raw rows in and out of every place data lives: JSONL, JSON, CSV, Parquet, ``save_to_disk``
directories and the Hugging Face hub.

    for line, row in iter_rows("alpaca.jsonl"):       # row is a dict, or a DataIssue
        ...
    write_rows(rows, "out.jsonl")                      # atomic: temp file + rename

Where a bad row is reported (``DataIssue.line``):

- ``.jsonl`` and ``.csv``: the 1-based line in the file (a CSV header is line 1);
- a ``.json`` array, ``.parquet``, a ``save_to_disk`` directory, a hub dataset: the 0-based row
  index, the ``ds[i]`` you would type to look at it.

A ``.json`` file that is not one JSON document is read as JSON Lines, as ``datasets`` does.
Arrow-backed sources store a missing key as null, so nulls are dropped from their rows.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from kaizen.data.errors import DataError, DataIssue
from kaizen.data.jsonl import iter_jsonl, write_jsonl

READ_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
WRITE_SUFFIXES = (".jsonl", ".json", ".parquet")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
# CSV cells holding JSON (lists, objects, booleans); prompt-like cells only when they hold messages.
_CSV_JSON_KEYS = {"messages", "conversations", "answers", "ranks", "judgements", "meta", "all_bad"}
_CSV_MAYBE_MESSAGES = {"prompt", "completion", "chosen", "rejected"}
_CSV_TEXT_KEYS = {"text", "instruction", "output"} | _CSV_MAYBE_MESSAGES  # "" here is an empty text, not absent

Row = dict[str, Any]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _iter_table(rows: Any) -> Iterator[tuple[int, Row]]:
    for i, row in enumerate(rows):
        yield i, _drop_nulls(row)


def _iter_json(path: Path) -> Iterator[tuple[int, Row | DataIssue]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            yield e.lineno, DataIssue(str(path), e.lineno, None, f"malformed JSON: {e.msg} at column {e.colno}")
        else:
            yield from iter_jsonl(path)
        return
    if isinstance(data, dict):
        yield 1, data
    elif not isinstance(data, list):
        yield 1, DataIssue(str(path), 1, None, f"expected a JSON array of objects, got {type(data).__name__}")
    else:
        for i, row in enumerate(data):
            yield i, row if isinstance(row, dict) else DataIssue(
                str(path), i, None, f"expected a JSON object, got {type(row).__name__}")


def _csv_cell(key: str, value: str) -> Any:
    if value == "":
        return "" if key in _CSV_TEXT_KEYS else None
    if key in _CSV_JSON_KEYS or (key in _CSV_MAYBE_MESSAGES and value.lstrip().startswith("[")):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value  # the parser then names the field and its wrong type
        if key in _CSV_JSON_KEYS or (isinstance(decoded, list) and all(isinstance(m, dict) for m in decoded)):
            return decoded
    return value


def _iter_csv(path: Path) -> Iterator[tuple[int, Row | DataIssue]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        end = reader.line_num
        for cells in reader:
            line, end = end + 1, reader.line_num
            if not cells:
                continue
            if len(cells) != len(header):
                yield line, DataIssue(str(path), line, None, f"expected {len(header)} columns, got {len(cells)}")
                continue
            yield line, {k: _csv_cell(k, v) for k, v in zip(header, cells)}


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches():
        yield from batch.to_pylist()


def _disk_dataset(path: Path, split: str) -> Any:
    import datasets

    if not ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
        raise DataError(DataIssue(str(path), None, None, "not a directory saved by datasets' save_to_disk (no "
                                  f"state.json or dataset_dict.json); pass a {'/'.join(READ_SUFFIXES)} file instead"))
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(DataIssue(str(path), None, None, f"no split '{split}' (splits: {', '.join(ds)})"))
        ds = ds[split]
    return ds


def _hub_dataset(source: str, split: str, limit: int | None) -> Any:
    import datasets

    try:
        return datasets.load_dataset(source, split=f"{split}[:{limit}]" if limit is not None else split)
    except Exception as e:  # offline, unknown id, gated, bad split: all end here, and all are the user's to fix
        raise DataError(DataIssue(source, None, None, "no such file or directory, and the Hugging Face hub "
                                  f"could not load it as a dataset: {type(e).__name__}: {e}")) from None


def iter_rows(source: str | Path, *, split: str = "train", limit: int | None = None
              ) -> Iterator[tuple[int, Row | DataIssue]]:
    """``(line, row)`` for the first ``limit`` rows of ``source``; an unreadable row is a ``DataIssue``.

    ``source`` is a file, a ``save_to_disk`` directory, or a hub id (``datasets.load_dataset``).
    Raises ``DataError`` when the source as a whole cannot be read.
    """
    path, name = Path(source), str(source)
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            rows: Iterator[tuple[int, Row | DataIssue]] = _iter_table(_disk_dataset(path, split))
        elif path.is_file():
            if suffix not in READ_SUFFIXES:
                raise DataError(DataIssue(name, None, None, f"unsupported file type '{suffix}' "
                                          f"(expected {', '.join(READ_SUFFIXES)} or a save_to_disk directory)"))
            rows = {".jsonl": iter_jsonl, ".json": _iter_json, ".csv": _iter_csv}.get(
                suffix, lambda p: _iter_table(_parquet_rows(p)))(path)
        elif suffix in READ_SUFFIXES or not _HUB_ID.fullmatch(name) or path.parent.name and path.parent.is_dir():
            # a missing local path (its folder exists here) is reported as such, not sent to the hub
            raise DataError(DataIssue(name, None, None, "file not found"))
        else:
            rows = _iter_table(_hub_dataset(name, split, limit))
        yield from islice(rows, limit)
    except DataError:
        raise
    except (OSError, ValueError) as e:  # unreadable file, corrupt Parquet / Arrow, bad encoding
        raise DataError(DataIssue(name, None, None, f"cannot read: {type(e).__name__}: {e}")) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    import datasets

    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def _arrow_table(rows: list[Row], path: Path) -> Any:
    import pyarrow as pa

    keys = list(dict.fromkeys(k for row in rows for k in row))  # from_pylist takes columns from row 0 only
    try:
        return pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in rows])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:  # e.g. a meta key holding an int in one row, text in another
        raise DataError(DataIssue(str(path), None, None, f"rows do not fit one Arrow table ({e}); "
                                  "write .jsonl instead")) from None


def write_rows(rows: list[Row], path: str | Path) -> int:
    """Write rows atomically; the destination's type follows its name.

    ``.jsonl`` / ``.json``: JSON Lines (``.json`` too, as ``Dataset.to_json`` writes it);
    ``.parquet``: one Parquet file; a path ending in ``/`` or without a suffix: a ``datasets``
    ``save_to_disk`` directory, built beside the destination and swapped in when complete.
    """
    dst, text = Path(path), str(path)
    suffix = dst.suffix.lower()
    if suffix in (".jsonl", ".json") and not text.endswith("/"):
        return write_jsonl(dst, rows)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet" and not text.endswith("/"):
        import pyarrow.parquet as pq

        table = _arrow_table(rows, dst)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
            os.replace(tmp, dst)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return len(rows)
    if suffix and not text.endswith("/"):
        raise DataError(DataIssue(text, None, None, f"cannot write '{suffix}' files (use {', '.join(WRITE_SUFFIXES)}, "
                                  "or a directory path ending in '/' for datasets' save_to_disk)"))
    if not rows:  # datasets cannot load back a table with no columns
        raise DataError(DataIssue(text, None, None, "no records to write: an empty save_to_disk directory cannot be loaded"))
    if dst.exists() and not (dst.is_dir() and ((dst / "state.json").exists() or not any(dst.iterdir()))):
        raise DataError(DataIssue(text, None, None, "exists and is not a save_to_disk directory; not replacing it"))
    import datasets

    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}."))
    old = tmp.with_name(tmp.name + ".old")
    try:
        with _quiet_datasets():
            datasets.Dataset(_arrow_table(rows, dst)).save_to_disk(str(tmp / "ds"))
        if dst.exists():
            os.replace(dst, old)
        os.replace(tmp / "ds", dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return len(rows)
