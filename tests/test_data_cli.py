"""``kaizen data``: validate's output and exit codes, convert's refusals, demo-world dispatch."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from kaizen.cli import main as kaizen_main
from kaizen.data.cli import main
from kaizen.data.formats import load_records

GOOD = [{"instruction": "Name a colour.", "input": "", "output": "Blue."},
        {"instruction": "Add.", "input": "1+1", "output": "2"}]
RANKING = {"prompt": "p", "answers": ["a", "b", "c"], "ranks": [1, 2, 2], "labeler": "ann"}


def write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and all(cmd in out for cmd in ("validate", "convert", "demo-world"))


def test_validate_good_file_exits_0_with_a_summary(tmp_path, capsys):
    path = write(tmp_path / "a.jsonl", GOOD)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: 2 rows, 2 ok, 0 bad; formats: alpaca 2\n"


def test_validate_prints_every_bad_row_and_exits_1(tmp_path, capsys):
    path = write(tmp_path / "bad.jsonl", [GOOD[0], "{oops", {"instruction": "x", "output": 5},
                                          {"messages": [{"role": "user", "content": "hi"}]}])
    assert main(["validate", str(path), "--kind", "demonstration"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:2: malformed JSON")
    assert out[1] == f"{path}:3: output: expected a string, got integer"
    assert out[2] == f"{path}:4: messages[0].role: a demonstration must end with an 'assistant' turn, got 'user'"
    assert out[3].startswith(f"{path}: warning: mixed formats in one file: alpaca (2 rows, first at line 1)")
    assert out[4] == f"{path}: 4 rows, 1 ok, 3 bad; formats: alpaca 2, messages 1"


def test_validate_many_files_fails_if_any_does(tmp_path, capsys):
    good, missing = write(tmp_path / "a.jsonl", GOOD), tmp_path / "nope.jsonl"
    assert main(["validate", str(good), str(missing)]) == 1
    out = capsys.readouterr().out
    assert f"{missing}: file not found" in out and f"{good}: 2 rows, 2 ok, 0 bad" in out
    warn = write(tmp_path / "w.jsonl", [{**RANKING, "answers": ["a", "b", "a"]}])
    assert main(["validate", str(warn)]) == 0  # a warning is not a bad row
    assert f"{warn}:1: answers[2]: warning: same text as answers[0]" in capsys.readouterr().out


def test_top_level_command_dispatches_here(tmp_path, capsys):
    assert kaizen_main(["data", "validate", str(write(tmp_path / "a.jsonl", GOOD))]) == 0
    assert "2 ok" in capsys.readouterr().out


def test_convert_writes_and_says_what_it_drops(tmp_path, capsys):
    src = write(tmp_path / "r.jsonl", [RANKING])
    assert main(["convert", str(src), str(tmp_path / "pairs.jsonl"), "--to", "preference"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote 2 preference rows (preference records) to {tmp_path / 'pairs.jsonl'}\n"
    assert "ranking -> preference is lossy" in captured.err
    assert main(["convert", str(src), str(tmp_path / "ds"), "--to", "ranking"]) == 0
    assert load_records(tmp_path / "ds", "ranking") == load_records(src, "ranking")


def test_convert_refuses_to_overwrite_the_source(tmp_path, capsys):
    src = write(tmp_path / "a.jsonl", GOOD)
    before = src.read_bytes()
    assert main(["convert", str(src), str(src), "--to", "messages"]) == 1
    assert "refusing to write over the source" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_convert_with_a_bad_row_leaves_the_destination_untouched(tmp_path, capsys):
    src = write(tmp_path / "a.jsonl", [*GOOD, {"instruction": "", "output": "x"}])
    dst = tmp_path / "out.jsonl"
    dst.write_text("keep me\n")
    assert main(["convert", str(src), str(dst), "--to", "messages"]) == 1
    err = capsys.readouterr().err
    assert f"{src}:3: instruction: empty string where text is required" in err
    assert f"nothing written to {dst}" in err
    assert dst.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "out.jsonl"]  # no temp files left


def test_convert_usage_errors_exit_2(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["convert", "a.jsonl", "b.jsonl", "--to", "yaml"])
    assert e.value.code == 2


def test_demo_world_is_handed_to_the_world_builder(monkeypatch):
    seen = []
    fake = types.ModuleType("kaizen.world.build")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "kaizen.world.build", fake)
    assert main(["demo-world", "--out", "runs/world", "--help"]) == 0
    assert seen == [["--out", "runs/world", "--help"]]


def test_validate_names_an_unknown_key_once_with_the_key_it_was_meant_to_be(tmp_path, capsys):
    path = write(tmp_path / "pr.jsonl", [{"prompt": "Hi?", "response": "Hello."}, {"prompt": "Q?", "response": "A."}])
    assert main(["validate", str(path)]) == 0  # readable as prompts: a warning, not a bad row
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{path}:1: response: warning: unknown key, ignored in 2 rows read as prompt_only (prompt); "
                   "did you mean 'completion'?",
                   f"{path}: 2 rows, 2 ok, 0 bad; formats: prompt_only 2"]
    assert main(["validate", str(path), "--strict"]) == 1  # --strict: warnings fail


def test_unknown_key_suggestions_follow_the_format_and_spelling(tmp_path, capsys):
    from kaizen.data.cli import suggest_key

    assert suggest_key("response", "alpaca", {"instruction", "input"}) == "output"
    assert suggest_key("response", "alpaca", {"instruction", "input", "output"}) is None  # output is there
    assert suggest_key("complection", "prompt_only", {"prompt"}) == "completion"
    assert suggest_key("Question", "prompt_completion", {"completion"}) == "prompt"
    assert suggest_key("score_chosen", "preference", {"prompt", "chosen", "rejected"}) is None  # an extra column
    path = write(tmp_path / "pref.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": 8}])
    assert main(["validate", str(path)]) == 0
    assert (f"{path}:1: score_chosen: warning: unknown key, ignored in 1 row read as preference "
            "(prompt + chosen + rejected)\n") in capsys.readouterr().out


@pytest.mark.parametrize("content", ["", "\n\n", "[]\n"])
def test_validate_fails_on_an_empty_file(tmp_path, capsys, content):
    path = tmp_path / ("empty.json" if content.startswith("[") else "empty.jsonl")
    path.write_text(content)
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"{path}: no rows: the file is empty (nothing to train on)"
