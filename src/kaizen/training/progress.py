"""Progress bars: live on a terminal, a line every few seconds in a log (CI, `make demo | tee`)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(total: int, desc: str, initial: int = 0, unit: str = "step", disable: bool = False) -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=disable, dynamic_ncols=interactive,
                mininterval=0.2 if interactive else 15.0)
