"""The prompting section's own reasoning model: digit tokens, more train demonstrations (never a
held-out prompt), and the pretrain -> SFT chain end to end on a tiny model."""

from __future__ import annotations

import json

import pytest
from conftest import reasoning_world

from kaizen.models.tokenizer import train_bpe_tokenizer
from kaizen.world.reasoning import ReasoningTasks
from kaizen.world.reasoning.build import more_demonstrations

SMALL = dict(train_arithmetic=30, train_multihop=20, train_lookup=20, heldout_arithmetic=12, heldout_multihop=10,
             heldout_lookup=10, corpus_docs=200)
TEXTS = ["4 bells cost 4 x 6 = 24 coins.", "24 and 18 make 42.", "The market in Lulholm is on Monday."] * 50


@pytest.fixture(scope="module")
def rworld(small_world, tmp_path_factory):
    return reasoning_world(small_world, tmp_path_factory, "modelworld", **SMALL)


def test_split_digits_gives_one_token_per_digit_and_the_default_is_unchanged():
    split = train_bpe_tokenizer(TEXTS, vocab_size=300, split_digits=True)
    plain = train_bpe_tokenizer(TEXTS, vocab_size=300)
    for text in ("cost 24 coins", "x 6 = 24.", "1234"):
        pieces = [split.decode([i]) for i in split(text, add_special_tokens=False)["input_ids"]]
        assert all(len(p.strip()) == 1 for p in pieces if any(c.isdigit() for c in p)), pieces
        assert split.decode(split(text, add_special_tokens=False)["input_ids"]) == text
    # "24" is frequent, so plain BPE merges it into one token; with split_digits it never is
    assert any(plain.decode([i]).strip() == "24" for i in plain("cost 24 coins", add_special_tokens=False)["input_ids"])


def test_more_demonstrations_are_train_items_only_and_leave_the_world_alone(rworld):
    before = {p.name: p.read_bytes() for p in rworld.iterdir()}
    rows = more_demonstrations(rworld, 3)
    assert {p.name: p.read_bytes() for p in rworld.iterdir()} == before
    base = sum(1 for _ in (rworld / "sft_reasoning.jsonl").open())
    assert len(rows) > base
    held = [m.content for p in ReasoningTasks(rworld).prompts("heldout") for m in p.messages if m.role == "user"]
    for r in rows:
        for m in r["messages"]:
            assert m["role"] != "user" or not any(h in m["content"] for h in held)
    assert {r["format"] for r in rows} == {"direct", "cot", "react", "knowledge"}


@pytest.mark.slow
def test_reasoning_model_trains_end_to_end_and_the_demo_section_uses_it(rworld, tiny_model_factory, tmp_path):
    from kaizen.models.loading import load_tokenizer
    from kaizen.prompting.demo import demo_section
    from kaizen.prompting.reasoning_model import ReasoningModelConfig

    chat = tiny_model_factory("llama")
    tiny = ReasoningModelConfig(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2, pretrain_steps=2,
                                demo_scale=1, sft_epochs=1, sft_batch_size=32)
    sizes = {"arithmetic": 2, "multihop": 2, "lookup": 2, "chat": 2}
    report = demo_section(tmp_path / "prompting", rworld, chat, chat, seed=0, sizes=sizes, scaling=(1, 2),
                          max_tokens=8, reasoning_model="train", model_config=tiny)
    model_dir = tmp_path / "prompting" / "model" / "sft" / "model"
    assert report["model"] == {"chat": str(chat), "reasoning": str(model_dir), "trained": report["model"]["trained"]}
    trained = report["model"]["trained"]
    assert trained["sft_rows"] > 0 and trained["pretrain"]["steps"] == 2 and trained["sft"]["steps"] >= 1
    tok = load_tokenizer(str(model_dir))
    assert len(tok("24", add_special_tokens=False)["input_ids"]) == 2
    assert {"zero_shot", "cot", "react", "best_of_n@8"} <= set(report["strategies"])
    assert "chat" in report["strategies"]["best_of_n@8"] and "arithmetic" in report["strategies"]["cot"]
    assert json.loads((tmp_path / "prompting" / "results.json").read_text())["model"]["reasoning"] == str(model_dir)
