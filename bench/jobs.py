"""What the side-by-side benchmarks share: each side runs in its own Python process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def run_job(code: str, model: Path, data: Path, out: Path, batch: int, steps: int, python: str | None = None) -> dict:
    """Run ``code`` (a script reading argv: model, data, out, batch, steps) in a fresh interpreter, so
    neither side's imports, caches or allocator state reach the other; its last stdout line is JSON.

    ``python``: another interpreter (a peer's own venv, bench/setup_trl_ppo.sh); default this one."""
    proc = subprocess.run([python or sys.executable, "-c", textwrap.dedent(code), str(model), str(data), str(out),
                           str(batch), str(steps)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])
