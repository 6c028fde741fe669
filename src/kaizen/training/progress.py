"""Progress: a live bar on a terminal; in a log (CI, ``make demo | tee``, a file) one line a minute
and one when the work ends, so a whole demo's log stays a page long instead of 150 KB of bars.

    bar = progress(225, "sft")        # tqdm on a TTY, else a LogProgress
    bar.update(1); bar.set_postfix(loss="1.23"); bar.close()

``KAIZEN_PROGRESS=bar|log|off`` forces a kind; ``KAIZEN_PROGRESS_INTERVAL`` (seconds, default
60) is how often a log line is written.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

LOG_INTERVAL_S = 60.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


class LogProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` as plain lines: at most one per ``interval``
    seconds while running, and a last one at ``close`` with the total time and the final postfix."""

    def __init__(self, total: int | None, desc: str, initial: int = 0, unit: str = "step",
                 interval: float = LOG_INTERVAL_S, file: TextIO | None = None):
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.n = self.initial = initial
        self.file = file
        self.postfix: dict[str, Any] = {}
        self.start = self.last = time.monotonic()
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval and (self.total is None or self.n < self.total):
            self.last = now
            self._print(self._line(now, done=False))

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.n > self.initial:
            self._print(self._line(time.monotonic(), done=True))

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self, now: float, done: bool) -> str:
        elapsed = now - self.start
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        parts = [f"{self.desc}: {count} {self.unit}s"]
        if done:
            parts.append(f"done in {_duration(elapsed)}")
        else:
            if self.total:
                parts[0] += f" ({100 * self.n / self.total:.0f}%)"
            parts.append(f"{_duration(elapsed)} elapsed")
            rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
            if self.total and rate > 0:
                parts.append(f"~{_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(", ".join(f"{k}={v}" for k, v in self.postfix.items()))
        return ", ".join(parts)

    def _print(self, line: str) -> None:
        print(line, file=self.file or sys.stderr, flush=True)


class _Silent(LogProgress):
    def _print(self, line: str) -> None:
        pass


def progress(total: int, desc: str, initial: int = 0, unit: str = "step", disable: bool = False):
    """A progress bar on a TTY, log lines elsewhere, nothing when ``disable`` (non-main processes)."""
    kind = os.environ.get("KAIZEN_PROGRESS") or ("bar" if sys.stderr.isatty() else "log")
    if disable or kind == "off":
        return _Silent(total, desc, initial, unit)
    if kind == "bar":
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.2)
    interval = float(os.environ.get("KAIZEN_PROGRESS_INTERVAL") or LOG_INTERVAL_S)
    return LogProgress(total, desc, initial, unit, interval=interval)
