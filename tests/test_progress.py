"""Progress in a log: one line per interval and one at the end, never a bar per update."""

from __future__ import annotations

import io

from kaizen.training import progress as progress_mod
from kaizen.training.progress import LogProgress, progress


def test_log_progress_writes_only_the_final_line_within_an_interval():
    out = io.StringIO()
    bar = LogProgress(225, "sft", unit="step", interval=3600, file=out)
    for _ in range(225):
        bar.update(1)
        bar.set_postfix(loss="1.234")
    bar.close()
    bar.close()  # closing twice prints once
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sft: 225/225 steps, done in ") and lines[0].endswith("loss=1.234")


def test_log_progress_reports_each_interval_with_what_is_left():
    out = io.StringIO()
    bar = LogProgress(4, "ppo", unit="it", interval=0.0, file=out)
    for _ in range(4):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["ppo: 1/4 its (25%)", "ppo: 2/4 its (50%)", "ppo: 3/4 its (75%)",
                                                      "ppo: 4/4 its"]
    assert "left" in lines[0] and "done in" in lines[-1]


def test_progress_is_a_bar_on_a_tty_and_lines_elsewhere(monkeypatch):
    monkeypatch.delenv("KAIZEN_PROGRESS", raising=False)
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: False, raising=False)
    assert type(progress(10, "x")) is LogProgress
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: True, raising=False)
    bar = progress(10, "x")
    assert type(bar).__module__.startswith("tqdm")
    bar.close()
    monkeypatch.setenv("KAIZEN_PROGRESS", "log")
    assert type(progress(10, "x")) is LogProgress
    silent = progress(10, "x", disable=True)
    silent.update(10)
    silent.close()  # prints nothing, no error
