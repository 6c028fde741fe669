"""SFT end to end on tiny models: assistant-only loss, every architecture, exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from kaizen.data.chat import IGNORE_INDEX, tokenize_conversation
from kaizen.losses.sft import masked_lm_loss
from kaizen.sft import SFTConfig, run


def test_prompt_tokens_carry_no_label(tiny_tokenizer):
    msgs = [{"role": "system", "content": "be kind"}, {"role": "user", "content": "what is the capital ?"},
            {"role": "assistant", "content": "it is mirepa ."}, {"role": "user", "content": "thank you"},
            {"role": "assistant", "content": "you are welcome"}]
    tc = tokenize_conversation(tiny_tokenizer, msgs)
    targets = [t for t, l in zip(tc.input_ids, tc.labels) if l != IGNORE_INDEX]
    text = tiny_tokenizer.decode(targets)
    # Exactly the two assistant turns, each closed by the end-of-turn marker, are targets.
    assert text == "it is mirepa .<|end|>\nyou are welcome<|end|>\n"
    prompt_text = tiny_tokenizer.decode([t for t, l in zip(tc.input_ids, tc.labels) if l == IGNORE_INDEX])
    assert "what is the capital ?" in prompt_text and "mirepa" not in prompt_text


def test_prompt_positions_contribute_zero_loss_and_gradient(tiny_tokenizer):
    msgs = [{"role": "user", "content": "list three foods"}, {"role": "assistant", "content": "bread , soup"}]
    tc = tokenize_conversation(tiny_tokenizer, msgs)
    labels = torch.tensor([tc.labels])
    first_target = next(i for i, l in enumerate(tc.labels) if l != IGNORE_INDEX)
    logits = torch.randn(1, len(tc.input_ids), len(tiny_tokenizer), requires_grad=True)
    loss = masked_lm_loss(logits, labels)
    loss.backward()
    # Logits at position t predict token t+1: positions before first_target - 1 never predict a target.
    assert torch.all(logits.grad[0, : first_target - 1] == 0)
    assert torch.any(logits.grad[0, first_target - 1] != 0)
    bumped = logits.detach().clone()
    bumped[0, : first_target - 1] += 5 * torch.randn_like(bumped[0, : first_target - 1])
    assert torch.allclose(masked_lm_loss(bumped, labels), loss.detach())


def _cfg(model_dir, data, out, **kw) -> SFTConfig:
    base = dict(model=str(model_dir), data=[str(data)], eval_data=None, out=str(out), batch_size=4, max_steps=6,
                lr=3e-3, warmup_steps=0, save_every=0, log_every=1, max_length=96)
    base.update(kw)
    return SFTConfig(**base)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "gpt_neox"])
def test_sft_trains_every_architecture(arch, tiny_model_factory, tiny_sft_data, tmp_path):
    model_dir = tiny_model_factory(arch)
    out = run(_cfg(model_dir, tiny_sft_data, tmp_path / "sft", max_steps=8))
    before = load_file(str(model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before), f"unchanged parameters: {set(before) - set(changed)}"
    losses = [json.loads(l)["train/loss"] for l in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()
              if "train/loss" in l]
    assert losses[-1] < losses[0]
    # The saved directory is a plain transformers model that generates.
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt")
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    gen = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] > ids.shape[1]
    info = json.loads((tmp_path / "sft" / "run_info.json").read_text())
    assert info["stage"] == "sft" and info["kaizen_version"]
    assert (tmp_path / "sft" / "config.yaml").exists()


def test_resume_after_kill_matches_uninterrupted(tiny_model_factory, tiny_sft_data, tmp_path):
    model_dir = tiny_model_factory("llama")
    full = run(_cfg(model_dir, tiny_sft_data, tmp_path / "full", grad_accum=2))
    # "Kill" after step 5 (last checkpoint: step 4), then start the same command again.
    cfg = _cfg(model_dir, tiny_sft_data, tmp_path / "killed", grad_accum=2, save_every=2)
    run(cfg, should_stop=lambda step: step == 5)
    assert not (tmp_path / "killed" / "model").exists()
    resumed = run(cfg)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_sft_lora_saves_adapter_and_merged_model(tiny_model_factory, tiny_sft_data, tmp_path):
    model_dir = tiny_model_factory("llama")
    out = run(_cfg(model_dir, tiny_sft_data, tmp_path / "lora", lora_r=4, lr=1e-2, max_steps=4))
    assert (tmp_path / "lora" / "adapter" / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out)  # a plain model: the adapter is merged in
    before = load_file(str(model_dir / "model.safetensors"))
    after = {k: v for k, v in merged.state_dict().items() if k in before}
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_sft_prompt_tuning_trains_only_virtual_tokens(tiny_model_factory, tiny_sft_data, tmp_path):
    from kaizen.models.loading import load_causal_lm

    model_dir = tiny_model_factory("llama")
    out = run(_cfg(model_dir, tiny_sft_data, tmp_path / "pt", prompt_tuning_tokens=4, lr=3e-2, max_steps=8))
    assert (out / "adapter_config.json").exists() and not (out / "config.json").exists()
    losses = [json.loads(l)["train/loss"] for l in (tmp_path / "pt" / "metrics.jsonl").read_text().splitlines()
              if "train/loss" in l]
    assert losses[-1] < losses[0]
    tuned = load_causal_lm(str(out))  # the adapter with its base, as later stages load it
    base = load_file(str(model_dir / "model.safetensors"))
    inner = tuned.get_base_model().state_dict()
    assert all(torch.equal(base[k], inner[k]) for k in base if k in inner)  # the base stayed frozen
    ids = torch.tensor([[1, 5, 9, 12]])
    assert tuned(input_ids=ids).logits.shape[1] == 4 + 4  # virtual tokens come first


def test_qlora_refused_where_it_cannot_run(tiny_model_factory, tiny_sft_data, tmp_path, monkeypatch):
    from kaizen.config import ConfigError
    from kaizen.dpo import DPOConfig
    from kaizen.dpo import run as run_dpo
    from kaizen.reward import RewardConfig
    from kaizen.reward import run as run_rm

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model, out = str(tiny_model_factory("llama")), str(tmp_path / "q")
    with pytest.raises(ConfigError, match="'load_in_4bit'.*CUDA"):
        run(_cfg(model, tiny_sft_data, out, lora_r=4, load_in_4bit=True))
    with pytest.raises(ConfigError, match="needs LoRA"):
        run(_cfg(model, tiny_sft_data, out, load_in_4bit=True))
    for stage_run, config in ((run_rm, RewardConfig), (run_dpo, DPOConfig)):
        with pytest.raises(ConfigError, match="'load_in_4bit'.*CUDA"):
            stage_run(config(model=model, data=[str(tiny_sft_data)], out=out, lora_r=4, load_in_4bit=True))
    assert not (tmp_path / "q").exists()  # refused before any run directory or model


def test_skip_bad_rows_trains_on_the_rest(tiny_model_factory, tiny_sft_data, tmp_path, caplog):
    import logging

    from kaizen.cli import main as kaizen_main
    from kaizen.data.errors import DataError

    rows = tiny_sft_data.read_text().splitlines()
    data = tmp_path / "with_bad.jsonl"
    data.write_text("\n".join(rows[:5] + ['{"messages": [{"role": "assistant", "content": "no user turn"}]}'] + rows[5:]) + "\n")
    with pytest.raises(DataError, match="with_bad.jsonl:6"):
        run(_cfg(tiny_model_factory("llama"), data, tmp_path / "strict", max_steps=1))
    args = ["sft", "--model", str(tiny_model_factory("llama")), "--data", str(data), "--out", str(tmp_path / "sft"),
            "--max_steps", "1", "--batch_size", "4", "--max_length", "96", "--save_every", "0", "--skip_bad_rows", "true"]
    with caplog.at_level(logging.WARNING, logger="kaizen.data"):
        assert kaizen_main(args) in (0, None)
    assert any("skipped 1 of 25 rows" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "sft" / "model" / "model.safetensors").exists()
