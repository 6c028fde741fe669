"""Data formats: every format round-trips, conversions keep what they promise, every bad row is
reported with its exact file, line and field."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest

from kaizen.data.errors import DataError
from kaizen.data.formats import (
    FORMATS, convert_file, detect_format, load_records, row_to_demonstration, row_to_pairs, row_to_prompt,
    row_to_ranking, save_records, validate_file,
)
from kaizen.data.records import Demonstration, Judgement, Message, PreferencePair, Ranking

U = lambda text: {"role": "user", "content": text}  # noqa: E731
A = lambda text: {"role": "assistant", "content": text}  # noqa: E731
S = lambda text: {"role": "system", "content": text}  # noqa: E731


def write_lines(path: Path, rows: list) -> Path:
    """One JSONL line per item: dicts are dumped, strings written as they are (to make bad JSON)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# (format, kind, rows): plain and conversational variants of every format.
SAMPLES = [
    ("text", "text", [{"text": "Once upon a time."}, {"text": "The end."}]),
    ("messages", "demonstration", [{"messages": [S("Be brief."), U("Hi"), A("Hello!"), U("Bye"), A("Bye!")], "id": "m1"},
                                   {"messages": [U("2+2?"), A("4")]}]),
    ("messages", "prompt", [{"messages": [S("Be brief."), U("Hi")]}, {"messages": [U("Hi"), A("Yo"), U("Again")]}]),
    ("prompt_completion", "demonstration", [{"prompt": "The sky is", "completion": " blue."}]),
    ("prompt_completion", "demonstration", [{"prompt": [S("s"), U("Sky?")], "completion": [A("Blue.")], "id": 7}]),
    ("prompt_only", "prompt", [{"prompt": "Name a colour."}, {"prompt": "Name a fruit."}]),
    ("prompt_only", "prompt", [{"prompt": [S("s"), U("Name a colour.")]}]),
    ("preference", "preference", [{"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green.", "id": "p1"}]),
    ("preference", "preference", [{"prompt": [U("Sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]},
                                  {"prompt": [S("s"), U("Sea?")], "chosen": [A("Wet.")], "rejected": [A("Dry.")]}]),
    ("preference_implicit", "preference", [{"chosen": "Q: Sky colour?\nA: Blue.", "rejected": "Q: Sky colour?\nA: Green."}]),
    ("preference_implicit", "preference", [{"chosen": [U("Sky?"), A("Blue.")], "rejected": [U("Sky?"), A("Green.")]}]),
    ("alpaca", "demonstration", [{"instruction": "Translate.", "input": "chat", "output": "cat"},
                                 {"instruction": "Name a colour.", "input": "", "output": "Blue."}]),
    ("sharegpt", "demonstration", [{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "Hi"},
                                                      {"from": "gpt", "value": "Hello"}]},
                                   {"conversations": [{"from": "user", "value": "Hi"}, {"from": "chatgpt", "value": "Yo"},
                                                      {"from": "human", "value": "?"}, {"from": "bing", "value": "!"}]}]),
    ("ranking", "ranking", [
        {"prompt": [U("Write a haiku.")], "answers": ["a", "b", "c", "d"], "ranks": [2, 1, 3, 3], "labeler": "ann",
         "judgements": [{"helpful": 5, "truthful": True, "harmless": True}, {"helpful": 7},
                        {"helpful": 2, "flags": ["hallucination"]}, {}],
         "id": "r1", "meta": {"round": 1}},
        {"prompt": "Sky?", "answers": ["Blue.", "Green."], "ranks": [1, 2], "labeler": "bob", "all_bad": True}]),
]


@pytest.mark.parametrize("fmt,kind,rows", SAMPLES, ids=[f"{s[0]}-{s[1]}-{i}" for i, s in enumerate(SAMPLES)])
def test_round_trip_every_format(tmp_path, fmt, kind, rows):
    src = write_lines(tmp_path / "in.jsonl", rows)
    assert {detect_format(r) for r in rows} == {fmt}
    records = load_records(src, kind)
    assert save_records(records, tmp_path / "out.jsonl", fmt) == len(records)
    assert load_records(tmp_path / "out.jsonl", kind) == records
    assert validate_file(tmp_path / "out.jsonl").formats == {fmt: len(records)}


def test_every_format_is_covered():
    assert {s[0] for s in SAMPLES} == set(FORMATS)


def test_canonical_rows_are_written_back_unchanged(tmp_path):
    for fmt, kind, rows in SAMPLES:
        if fmt in ("messages", "sharegpt", "text", "prompt_only") or fmt == "preference" and "id" in rows[0]:
            src = write_lines(tmp_path / f"{fmt}.jsonl", rows)
            save_records(load_records(src, kind), tmp_path / "out.jsonl", fmt)
            written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
            assert written == [{**r, "conversations": [{**m, "from": {"user": "human", "chatgpt": "gpt", "bing": "gpt"}
                                                        .get(m["from"], m["from"])} for m in r["conversations"]]}
                               if fmt == "sharegpt" else r for r in rows]


def test_parsed_records_are_what_the_formats_mean(tmp_path):
    alpaca, plain = load_records(write_lines(tmp_path / "a.jsonl", SAMPLES[11][2]), "demonstration")
    assert alpaca.messages == [Message("user", "Translate.\n\nchat"), Message("assistant", "cat")]
    assert plain.messages[0].content == "Name a colour."  # empty input adds nothing
    pair, = load_records(write_lines(tmp_path / "i.jsonl", SAMPLES[9][2]), "preference")
    assert pair == PreferencePair([Message("user", "Q: Sky colour?\nA:")], "Blue.", "Green.")
    ranking = load_records(write_lines(tmp_path / "r.jsonl", SAMPLES[13][2]), "ranking")[0]
    assert ranking.judgements[2] == Judgement(2, None, None, ("hallucination",)) and ranking.meta == {"round": 1}
    (best,) = load_records(tmp_path / "r.jsonl", "demonstration")  # the all_bad ranking has none
    assert best == Demonstration([Message("user", "Write a haiku."), Message("assistant", "b")], id="r1")
    (skipped,) = validate_file(tmp_path / "r.jsonl", "demonstration").warnings
    assert (skipped.line, skipped.field) == (2, "all_bad") and "skipped" in skipped.message
    assert load_records(tmp_path / "r.jsonl", "prompt")[1] == [Message("user", "Sky?")]


def test_dataset_dir_parquet_json_and_csv_sources(tmp_path):
    rows = SAMPLES[13][2]
    rankings = load_records(write_lines(tmp_path / "r.jsonl", rows), "ranking")
    for dst in (tmp_path / "ds", tmp_path / "r.parquet", f"{tmp_path}/ds2/"):
        save_records(rankings, dst, "ranking")
        assert load_records(dst, "ranking") == rankings
    assert (tmp_path / "ds" / "state.json").exists()
    # A directory saved by datasets itself, and a DatasetDict whose split is chosen.
    demos = [{"messages": [U(f"q{i}"), A(f"a{i}")]} for i in range(5)]
    datasets.Dataset.from_list(demos).save_to_disk(str(tmp_path / "hf"))
    assert len(load_records(tmp_path / "hf", "demonstration", limit=3)) == 3
    datasets.DatasetDict(test=datasets.Dataset.from_list(demos[:2])).save_to_disk(str(tmp_path / "dd"))
    assert len(load_records(tmp_path / "dd", "demonstration", split="test")) == 2
    with pytest.raises(DataError, match=r"dd: no split 'train' \(splits: test\)"):
        load_records(tmp_path / "dd", "demonstration")
    (tmp_path / "arr.json").write_text(json.dumps(demos, indent=2))
    assert len(load_records(tmp_path / "arr.json", "demonstration")) == 5
    (tmp_path / "a.csv").write_text('instruction,input,output\nName a colour.,,Blue.\n"Add, please",1+1,2\n')
    assert [d.messages[0].content for d in load_records(tmp_path / "a.csv", "demonstration")] == [
        "Name a colour.", "Add, please\n\n1+1"]
    (tmp_path / "m.csv").write_text('messages\n"[{""role"": ""user"", ""content"": ""hi""}]"\n')
    assert load_records(tmp_path / "m.csv", "prompt") == [[Message("user", "hi")]]


def test_dataset_rows_are_reported_by_row_index(tmp_path):
    rows = [{"messages": [U("q"), A("a")]}, {"messages": [U("q"), {"role": "bot", "content": "a"}]}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    (issue,) = validate_file(tmp_path / "hf").issues
    assert (issue.file, issue.line, issue.field) == (str(tmp_path / "hf"), 1, "messages[1].role")


def test_hub_ids_go_to_load_dataset(monkeypatch):
    calls = []

    def fake_load_dataset(source, split):
        calls.append((source, split))
        return datasets.Dataset.from_list([{"prompt": "p", "chosen": "c", "rejected": "r"}] * 3)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert len(load_records("someone/prefs", "preference", split="test")) == 3
    load_records("someone/prefs", "ranking", limit=2)
    assert calls == [("someone/prefs", "test"), ("someone/prefs", "train[:2]")]

    def offline(source, split):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="someone/prefs: no such file or directory, and the Hugging Face hub"):
        load_records("someone/prefs", "preference")
    with pytest.raises(DataError, match="missing.jsonl: file not found"):
        load_records("missing.jsonl", "preference")


# ---- conversions -----------------------------------------------------------------------------

def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_alpaca_and_sharegpt_to_messages(tmp_path):
    convert_file(write_lines(tmp_path / "a.jsonl", SAMPLES[11][2]), tmp_path / "a_msgs.jsonl", to="messages")
    assert read_rows(tmp_path / "a_msgs.jsonl") == [{"messages": [U("Translate.\n\nchat"), A("cat")]},
                                                    {"messages": [U("Name a colour."), A("Blue.")]}]
    convert_file(write_lines(tmp_path / "s.jsonl", SAMPLES[12][2]), tmp_path / "s_msgs.jsonl", to="messages")
    assert read_rows(tmp_path / "s_msgs.jsonl") == [{"messages": [S("s"), U("Hi"), A("Hello")]},
                                                    {"messages": [U("Hi"), A("Yo"), U("?"), A("!")]}]


def test_preference_to_ranking_is_k2(tmp_path):
    convert_file(write_lines(tmp_path / "p.jsonl", SAMPLES[7][2]), tmp_path / "r.jsonl", to="ranking")
    assert read_rows(tmp_path / "r.jsonl") == [{"prompt": [U("Sky?")], "answers": ["Blue.", "Green."], "ranks": [1, 2],
                                                "labeler": "unknown", "id": "p1"}]
    (r,) = load_records(tmp_path / "p.jsonl", "ranking")
    (pair,) = load_records(tmp_path / "p.jsonl", "preference")
    assert r.k == 2 and r.ranks == [1, 2] and r.answers == [pair.chosen, pair.rejected] and r.id == pair.id


def test_a_reminder_system_turn_after_the_user_turn_is_kept(tmp_path):
    # the "sandwich" defence repeats the instructions after the user's turn; a policy trained behind it
    # sees that format, so the data formats hold it (kaizen.safety.defended)
    convo = [S("s"), U("q"), S("remember s"), A("a")]
    (demo,) = load_records(write_lines(tmp_path / "d.jsonl", [{"messages": convo}]), "demonstration")
    assert [m.role for m in demo.messages] == ["system", "user", "system", "assistant"]
    rows = [{"prompt": convo[:3], "answers": ["a", "b"], "ranks": [1, 2]}]
    (r,) = load_records(write_lines(tmp_path / "r.jsonl", rows), "ranking")
    assert r.prompt[-1] == Message("system", "remember s")
    (prompt,) = load_records(tmp_path / "d.jsonl", "prompt")
    assert [m.role for m in prompt] == ["system", "user", "system"]


def test_ranking_to_pairs_counts_strict_pairs_only(tmp_path, caplog):
    rows = [{"prompt": "p", "answers": ["a", "b", "c", "d"], "ranks": [1, 2, 2, 3], "labeler": "x"},  # 5 strict pairs
            {"prompt": "q", "answers": ["a", "b", "c"], "ranks": [1, 1, 2], "labeler": "x"}]  # tie: 2 pairs
    src = write_lines(tmp_path / "r.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="kaizen.data"):
        assert convert_file(src, tmp_path / "pairs.jsonl", to="preference") == 7
    assert "ranking -> preference is lossy" in caplog.text
    pairs = read_rows(tmp_path / "pairs.jsonl")
    assert {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs} == {
        ("p", "a", "b"), ("p", "a", "c"), ("p", "a", "d"), ("p", "b", "d"), ("p", "c", "d"), ("q", "a", "c"), ("q", "b", "c")}
    assert row_to_pairs({"prompt": "p", "answers": ["a", "b"], "ranks": [1, 2]})[0].chosen == "a"


def test_conversion_refuses_what_the_target_cannot_hold(tmp_path):
    src = write_lines(tmp_path / "m.jsonl", SAMPLES[1][2])  # line 1 is multi-turn with a system message
    with pytest.raises(DataError, match=r"m.jsonl:1: alpaca holds one user turn") as e:
        convert_file(src, tmp_path / "a.jsonl", to="alpaca")
    assert len(e.value.issues) == 1 and not (tmp_path / "a.jsonl").exists()
    with pytest.raises(DataError, match="text records cannot be written as 'messages'"):
        convert_file(src, tmp_path / "t.jsonl", to="messages", kind="text")


def test_convert_never_overwrites_source_or_writes_half(tmp_path):
    src = write_lines(tmp_path / "m.jsonl", SAMPLES[1][2])
    before = src.read_bytes()
    for dst in (src, tmp_path, tmp_path / "."):
        with pytest.raises(DataError, match="refusing to write over the source"):
            convert_file(src, dst, to="sharegpt")
    assert src.read_bytes() == before
    dst = tmp_path / "out.jsonl"
    dst.write_text("precious\n")
    bad = write_lines(tmp_path / "bad.jsonl", [{"messages": [U("q"), A("a")]}, {"messages": []}])
    with pytest.raises(DataError, match=r"bad.jsonl:2: messages: empty conversation"):
        convert_file(bad, dst, to="sharegpt")
    assert dst.read_text() == "precious\n" and sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "m.jsonl", "out.jsonl"]


# ---- bad rows: every class, with its exact file / line / field ---------------------------

BAD_ROWS = [  # (raw row, field, words in the message); each sits on its own line after a good one
    ('{"text": "unterminated', None, "malformed JSON"),
    ('[1, 2]', None, "expected a JSON object, got list"),
    ({"question": "?", "answer": "!"}, None, "no recognisable format: keys ['answer', 'question']; expected one of: text {text}"),
    ({"instruction": "Do it.", "input": ""}, "output", "missing required field 'output'"),
    ({"messages": [U("hi"), {"role": "assistant", "content": 3}]}, "messages[1].content", "expected a string, got integer"),
    ({"prompt": "   ", "completion": "x"}, "prompt", "empty string where text is required"),
    ({"messages": [U("hi"), {"role": "bot", "content": "x"}]}, "messages[1].role", "unknown role 'bot'"),
    ({"conversations": [{"from": "robot", "value": "x"}]}, "conversations[0].from", "unknown role 'robot'"),
    ({"messages": []}, "messages", "empty conversation"),
    ({"messages": [S("s"), A("x")]}, "messages[1].role", "first turn after the system message must be 'user'"),
    ({"messages": [U("a"), U("b"), A("c")]}, "messages[1].role", "two 'user' turns in a row"),
    ({"messages": [U("a"), A("b"), S("s"), U("c"), A("d")]}, "messages[2].role", "a system message may only come first"),
    ({"messages": [S("s"), U("a"), S("r"), U("b"), A("c")]}, "messages[3].role", "two 'user' turns in a row"),
    ({"prompt": [U("q"), A("a")], "chosen": "x", "rejected": "y"}, "prompt[1].role", "a prompt must end with a 'user' turn"),
    ({"prompt": "q", "chosen": [A("x"), U("y")], "rejected": "z"}, "chosen", "expected one assistant message"),
    ({"chosen": [U("q"), A("x")], "rejected": [U("other"), A("y")]}, "rejected[0]", "share the same prompt turns"),
    ({"prompt": "q", "answers": ["only"], "ranks": [1]}, "answers", "a ranking needs 2 to 9 answers, got 1"),
    ({"prompt": "q", "answers": list("abcdefghij"), "ranks": list(range(1, 11))}, "answers", "needs 2 to 9 answers, got 10"),
    ({"prompt": "q", "answers": ["a", "b", "c"], "ranks": [1, 2]}, "ranks", "has 2 entries but there are 3 answers"),
    ({"prompt": "q", "answers": ["a", "b"], "ranks": [1, 0]}, "ranks[1]", "a rank must be a positive integer"),
    ({"prompt": "q", "answers": ["a", "b"], "ranks": ["1", 2]}, "ranks[0]", "a rank must be a positive integer"),
    ({"prompt": "q", "answers": ["a", "b"], "ranks": [2, 2]}, "ranks", "all ranks are equal"),
    ({"prompt": "q", "answers": ["a", "b"], "ranks": [1, 2], "judgements": [{"helpful": 3}]}, "judgements",
     "has 1 entries but there are 2 answers"),
    ({"prompt": "q", "answers": ["a", "b"], "ranks": [1, 2], "judgements": [{"helpful": 3}, {"helpful": 8}]},
     "judgements[1].helpful", "integer from 1 to 7"),
    ({"prompt": "q", "answers": ["a", "b"], "ranks": [1, 2], "judgements": [{"flags": ["rude"]}, {}]},
     "judgements[0].flags[0]", "unknown metadata flag 'rude'"),
    ({"prompt": "q", "answers": ["", "b"], "ranks": [1, 2]}, "answers[0]", "empty string where text is required"),
]


def test_every_bad_row_is_reported_with_file_line_and_field(tmp_path):
    good = {"prompt": "q", "answers": ["a", "b"], "ranks": [1, 2]}
    lines = [x for row, _, _ in BAD_ROWS for x in (good, row)]
    path = write_lines(tmp_path / "bad.jsonl", lines)
    report = validate_file(path)  # each row checked as what it is
    assert (report.rows, report.ok, report.bad) == (2 * len(BAD_ROWS), len(BAD_ROWS), len(BAD_ROWS))
    got = {i.line: i for i in report.issues}
    for n, (_, field, words) in enumerate(BAD_ROWS):
        issue = got[2 * n + 2]
        assert (issue.file, issue.field) == (str(path), field), (n, issue)
        assert words in issue.message, (n, issue)
        assert str(issue).startswith(f"{path}:{2 * n + 2}: " + (f"{field}: " if field else ""))
    with pytest.raises(DataError) as e:
        load_records(path, "ranking")
    assert [i.line for i in e.value.issues] == [2 * n + 2 for n in range(len(BAD_ROWS))]  # one per bad row


def test_a_row_of_another_kind_says_which_formats_would_do(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", [{"text": "Just text."}])
    with pytest.raises(DataError, match=r"t.jsonl:1: a 'text' row cannot be read as a ranking \(formats that can: "
                                        r"ranking, preference, preference_implicit\)"):
        load_records(path, "ranking")


def test_kind_free_validation_checks_each_row_as_what_it_is(tmp_path):
    rows = [s[2][0] for s in SAMPLES]
    report = validate_file(write_lines(tmp_path / "all.jsonl", rows))
    assert report.passed and report.ok == len(rows) and set(report.formats) == set(FORMATS)
    (mixed,) = report.warnings  # allowed, but flagged: it usually means files were concatenated
    assert mixed.line is None and "mixed formats in one file" in mixed.message


def test_soft_problems_are_warnings(tmp_path, caplog):
    rows = [{"prompt": "q", "answers": ["same", "other", "same"], "ranks": [1, 2, 3]},
            {"prompt": "q", "chosen": "x", "rejected": "x"}]
    path = write_lines(tmp_path / "w.jsonl", rows)
    report = validate_file(path, kind="ranking")
    assert report.passed
    assert [(w.line, w.field) for w in report.warnings[:2]] == [(1, "answers[2]"), (2, "rejected")]
    assert "same text as answers[0] but ranked 3 vs 1" in report.warnings[0].message
    with caplog.at_level(logging.WARNING, logger="kaizen.data"):
        assert len(load_records(path, "ranking")) == 2
    assert f"{path}:1: answers[2]: same text" in caplog.text


def test_row_parsers_name_the_row_they_were_given():
    with pytest.raises(DataError, match=r"^f.jsonl:9: messages\[2\].role: a demonstration must end"):
        row_to_demonstration({"messages": [U("a"), A("b"), U("c")]}, "f.jsonl", 9)
    assert row_to_prompt({"messages": [U("q"), A("a")]}) == [Message("user", "q")]
    assert row_to_ranking({"chosen": "x", "prompt": "p", "rejected": "y"}) == Ranking(
        [Message("user", "p")], ["x", "y"], [1, 2])


HH = "\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant: "


def test_hh_rlhf_transcripts_are_conversations(tmp_path):
    rows = [{"chosen": HH + "6.", "rejected": HH + "It is 7."},
            {"prompt": "\n\nHuman: hi\n\nAssistant:", "chosen": " hello", "rejected": " go away"}]
    multi, single = load_records(write_lines(tmp_path / "hh.jsonl", rows), "preference")
    assert multi == PreferencePair([Message("user", "What is 2+2?"), Message("assistant", "4."),
                                    Message("user", "And 3+3?")], "6.", "It is 7.")
    assert single.prompt == [Message("user", "hi")]
    assert validate_file(tmp_path / "hh.jsonl").guessed_prompts == 0  # not a prompt guessed from a shared start
    # HH-RLHF has rows whose turns do not alternate: an error naming the turn, not a silent mis-split
    with pytest.raises(DataError, match=r"hh2.jsonl:1: chosen\[1\]"):
        load_records(write_lines(tmp_path / "hh2.jsonl", [{"chosen": "\n\nHuman: a\n\nHuman: b\n\nAssistant: c",
                                                           "rejected": "\n\nHuman: a\n\nHuman: b\n\nAssistant: d"}]),
                     "preference")


def test_skip_bad_rows_reports_and_refuses_past_the_share(tmp_path, caplog):
    good = [{"messages": [U(f"q{i}"), A(f"a{i}")]} for i in range(18)]
    path = write_lines(tmp_path / "d.jsonl", good[:9] + ["{oops", {"messages": [A("no user")]}] + good[9:])
    with pytest.raises(DataError):
        load_records(path, "demonstration")  # the default: every bad row stops the run
    with caplog.at_level(logging.WARNING, logger="kaizen.data"):
        demos = load_records(path, "demonstration", skip_bad=True, max_bad_share=0.2)
    assert len(demos) == 18
    report = next(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert "skipped 2 of 20 rows" in report and "line 10" in report and "line 11" in report
    with pytest.raises(DataError, match=r"2 of 20 rows are bad \(10.0%\), more than max_bad_share 5.0%"):
        load_records(path, "demonstration", skip_bad=True, max_bad_share=0.05)
    with pytest.raises(DataError, match="file not found"):  # a missing source is never skipped
        load_records(tmp_path / "missing.jsonl", "demonstration", skip_bad=True)
