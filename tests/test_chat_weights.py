"""Per-message ``weight`` (OpenAI's fine-tuning format): weight 0 turns are context, no loss."""

from __future__ import annotations

import json

import pytest

from kaizen.data.chat import END, IGNORE_INDEX, tokenize_conversation
from kaizen.data.errors import DataError
from kaizen.data.formats import load_records, records_to_rows
from kaizen.data.parse import row_to_demonstration

ROW = {"messages": [{"role": "user", "content": "what is the capital ?"},
                    {"role": "assistant", "content": "it is mirepa .", "weight": 0},
                    {"role": "user", "content": "thank you"},
                    {"role": "assistant", "content": "you are welcome", "weight": 1}],
       "id": "r1", "meta": {"source": "chat"}}


def _target_text(tok, tc) -> str:
    return tok.decode([t for t, lab in zip(tc.input_ids, tc.labels) if lab != IGNORE_INDEX])


def test_weight_zero_turns_carry_no_label(tiny_tokenizer):
    demo = row_to_demonstration(ROW)
    assert [m.weight for m in demo.messages] == [None, 0, None, 1] and demo.meta == {"source": "chat"}
    tc = tokenize_conversation(tiny_tokenizer, demo.messages)
    assert _target_text(tiny_tokenizer, tc) == f"you are welcome{END}\n"
    # The context turn is still in the input, where the model reads it.
    assert "mirepa" in tiny_tokenizer.decode(tc.input_ids)
    unweighted = tokenize_conversation(tiny_tokenizer, [{k: v for k, v in m.items() if k != "weight"}
                                                        for m in ROW["messages"]])
    assert unweighted.input_ids == tc.input_ids  # the weight changes labels only, never the rendered text
    assert _target_text(tiny_tokenizer, unweighted) == f"it is mirepa .{END}\nyou are welcome{END}\n"
    # Training on the whole dialogue still leaves a weight-0 answer out: it must not be learned.
    everything = _target_text(tiny_tokenizer, tokenize_conversation(tiny_tokenizer, demo.messages, train_on_all=True))
    assert "what is the capital ?" in everything and "you are welcome" in everything and "mirepa" not in everything


@pytest.mark.parametrize("turn, value, message", [
    (1, 2, "weight must be 0 (context only) or 1"),
    (1, True, "weight must be 0 (context only) or 1"),
    (0, 0, "only meaningful on assistant turns"),
])
def test_bad_weights_name_the_field(turn, value, message):
    row = json.loads(json.dumps(ROW))
    row["messages"][turn]["weight"] = value
    with pytest.raises(DataError) as e:
        row_to_demonstration(row, "demos.jsonl", 3)
    assert f"demos.jsonl:3: messages[{turn}].weight" in str(e.value) and message in str(e.value)


def test_a_row_with_no_target_is_refused():
    row = json.loads(json.dumps(ROW))
    row["messages"][3]["weight"] = 0
    with pytest.raises(DataError, match="nothing to train on"):
        row_to_demonstration(row)


def test_validate_accepts_weights_and_meta(tmp_path, capsys):
    from kaizen.cli import main

    path = tmp_path / "demos.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    assert main(["data", "validate", str(path)]) == 0
    assert "unknown key" not in capsys.readouterr().out
    (demo,) = load_records(path, "demonstration")
    assert demo.messages[1].weight == 0


def test_formats_without_weights_refuse_context_turns():
    demo = row_to_demonstration(ROW)
    assert records_to_rows([demo], "messages")[0]["messages"][1]["weight"] == 0
    with pytest.raises(DataError, match="no per-turn weight"):
        records_to_rows([demo], "sharegpt")
