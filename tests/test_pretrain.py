"""Step 0 end to end: tokenizer + model from scratch, for the default and the GPT-2 architecture."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from kaizen.cli import main as kaizen


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_pretrain_from_scratch(arch, small_world, tmp_path):
    out = tmp_path / "pt"
    code = kaizen(["pretrain", "--corpus", str(small_world / "corpus_train.jsonl"),
                   "--heldout", str(small_world / "corpus_heldout.jsonl"), "--out", str(out), "--arch", arch,
                   "--vocab_size", "400", "--hidden_size", "32", "--num_layers", "2", "--num_heads", "2",
                   "--block_size", "64", "--batch_size", "8", "--max_steps", "12", "--eval_every", "0",
                   "--save_every", "0", "--lr", "3e-3"])
    assert code == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["heldout_perplexity"] < 400  # far below the 400-token vocabulary's uniform guess
    losses = [json.loads(l)["train/loss"] for l in (out / "metrics.jsonl").read_text().splitlines() if "train/loss" in l]
    assert losses[-1] < losses[0]
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.model_type == arch and tok.chat_template
    ids = tok("The zorvik", return_tensors="pt")["input_ids"]
    assert model.generate(ids, max_new_tokens=4, do_sample=False).shape[1] > ids.shape[1]
    info = json.loads((out / "run_info.json").read_text())
    assert info["stage"] == "pretrain" and "git_commit" in info
