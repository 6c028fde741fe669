"""PPO end to end on tiny models: the RM score rises, ptx and LoRA variants run, resume is exact."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from kaizen.data.jsonl import write_jsonl
from kaizen.ppo import PPOConfig, run
from kaizen.reward import RewardConfig
from kaizen.reward import run as train_rm
from conftest import sample_sentences
from test_reward import marker_rankings


@pytest.fixture(scope="module")
def ppo_setup(tiny_model_factory, tmp_path_factory):
    root = tmp_path_factory.mktemp("ppo")
    write_jsonl(root / "rankings.jsonl", [r.to_dict() for r in marker_rankings(48)])
    rm = train_rm(RewardConfig(model=str(tiny_model_factory("llama")), data=[str(root / "rankings.jsonl")],
                               out=str(root / "rm"), demonstrations=None, eval_fraction=0.1, batch_size=8,
                               max_steps=25, lr=3e-3, warmup_steps=0, save_every=0, max_length=96))
    rng = random.Random(0)
    write_jsonl(root / "prompts.jsonl", [{"prompt": s} for s in sample_sentences(32, seed=5)])
    write_jsonl(root / "corpus.jsonl", [{"text": " ".join(sample_sentences(8, seed=rng.randint(0, 999)))} for _ in range(40)])
    return root, rm


def _cfg(root, rm, policy, out, **kw) -> PPOConfig:
    base = dict(policy=str(policy), reward_model=str(rm), prompts=[str(root / "prompts.jsonl")],
                ptx_data=[str(root / "corpus.jsonl")], out=str(out), iterations=6, rollout_batch_size=16,
                ppo_epochs=2, minibatch_size=8, lr=3e-3, value_lr=3e-3, max_new_tokens=12, ptx_block_size=32,
                save_every=0, precision="fp32", missing_eos_penalty=None, warmup_iterations=1)
    base.update(kw)
    return PPOConfig(**base)


def _rewards(run_dir) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["ppo/rm_score"] for r in rows if "ppo/rm_score" in r]


def test_ppo_raises_reward_and_changes_every_parameter(ppo_setup, tiny_model_factory, tmp_path):
    root, rm = ppo_setup
    policy = tiny_model_factory("llama")
    out = run(_cfg(root, rm, policy, tmp_path / "ppo", iterations=12, ptx_coef=0.0))
    rewards = _rewards(tmp_path / "ppo")
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3, rewards
    before, after = load_file(str(policy / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(not torch.equal(before[k], after[k]) for k in before)
    rows = [json.loads(line) for line in (tmp_path / "ppo" / "metrics.jsonl").read_text().splitlines()]
    for key in ("kl", "entropy", "clip_fraction", "value_error", "reward", "time_generation_s", "time_training_s"):
        assert all(f"ppo/{key}" in r for r in rows)
    AutoModelForCausalLM.from_pretrained(out)


@pytest.mark.parametrize("arch", ["gpt2", "qwen2", "gpt_neox"])
def test_ppo_ptx_runs_on_other_architectures(arch, ppo_setup, tiny_model_factory, tmp_path):
    root, _ = ppo_setup
    policy = tiny_model_factory(arch)
    # An RM of the same architecture, untrained head: the run must work for any causal LM.
    out = run(_cfg(root, policy, policy, tmp_path / "ppo", iterations=2, ptx_coef=0.5))
    rows = [json.loads(line) for line in (tmp_path / "ppo" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["ppo/ptx_loss"] > 0 for r in rows)
    AutoModelForCausalLM.from_pretrained(out)


def test_ppo_lora_keeps_reference_frozen(ppo_setup, tiny_model_factory, tmp_path):
    root, rm = ppo_setup
    policy = tiny_model_factory("llama")
    out = run(_cfg(root, rm, policy, tmp_path / "ppo", iterations=2, lora_r=4, lr=1e-2))
    assert (tmp_path / "ppo" / "adapter" / "adapter_config.json").exists()
    before, after = load_file(str(policy / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_ppo_resume_matches_uninterrupted(ppo_setup, tiny_model_factory, tmp_path):
    root, rm = ppo_setup
    policy = tiny_model_factory("llama")
    full = run(_cfg(root, rm, policy, tmp_path / "full", iterations=4, ptx_coef=0.5))
    cfg = _cfg(root, rm, policy, tmp_path / "killed", iterations=4, ptx_coef=0.5, save_every=2)
    run(cfg, should_stop=lambda it: it == 3)
    resumed = run(cfg)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


@pytest.mark.parametrize("algo, kl_in, norm", [("grpo", "auto", "sequence"), ("grpo", "reward", "token"),
                                               ("rloo", "auto", "sequence")])
def test_critic_free_runs_without_a_value_model(algo, kl_in, norm, ppo_setup, tiny_model_factory, tmp_path, monkeypatch):
    from kaizen import ppo as ppo_module

    loaded = []
    monkeypatch.setattr(ppo_module, "load_scalar_model", lambda *a, **k: loaded.append(a) or None)
    root, rm = ppo_setup
    policy = tiny_model_factory("llama")
    out = run(_cfg(root, rm, policy, tmp_path / algo, iterations=2, rollout_batch_size=4, group_size=4,
                   algo=algo, kl_in=kl_in, loss_normalisation=norm, ptx_coef=0.5, save_every=1))
    assert loaded == []  # no value model was built
    rows = [json.loads(line) for line in (tmp_path / algo / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all("ppo/value_loss" not in r and r["ppo/ptx_loss"] > 0 for r in rows)
    assert all(abs(r["ppo/advantage_mean"]) < 1e-4 for r in rows)  # a group's baseline is its own mean
    before, after = load_file(str(policy / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(not torch.equal(before[k], after[k]) for k in before)
    assert json.loads((tmp_path / algo / "eval.json").read_text())["algo"] == algo


def test_critic_free_config_errors_name_the_key(ppo_setup, tiny_model_factory, tmp_path):
    from kaizen.config import ConfigError

    root, rm = ppo_setup
    policy = tiny_model_factory("llama")
    for kw, key in [(dict(algo="a2c"), "'algo'"), (dict(algo="grpo", group_size=1), "'group_size'"),
                    (dict(kl_in="loss"), "'kl_in'"), (dict(algo="rloo", loss_normalisation="x"), "'loss_normalisation'")]:
        with pytest.raises(ConfigError, match=key):
            run(_cfg(root, rm, policy, tmp_path / "bad", **kw))


def test_padding_free_passes_keep_the_numbers(ppo_setup, tiny_model_factory, tmp_path):
    root, rm = ppo_setup
    policy = tiny_model_factory("llama")
    runs = {}
    for padding_free in (False, True):
        out = run(_cfg(root, rm, policy, tmp_path / str(padding_free), iterations=2, ptx_coef=0.5,
                       padding_free=padding_free))
        rows = [json.loads(line) for line in (tmp_path / str(padding_free) / "metrics.jsonl").read_text().splitlines()]
        runs[padding_free] = rows, load_file(str(out / "model.safetensors"))
    (rows_a, w_a), (rows_b, w_b) = runs[False], runs[True]
    for a, b in zip(rows_a, rows_b):
        for key in ("rm_score", "kl", "policy_loss", "value_loss", "ptx_loss", "entropy", "approx_kl"):
            assert abs(a[f"ppo/{key}"] - b[f"ppo/{key}"]) < 1e-4, (key, a[f"ppo/{key}"], b[f"ppo/{key}"])
    for k in w_a:
        torch.testing.assert_close(w_a[k], w_b[k], rtol=0, atol=1e-4)


def test_generation_logprobs_are_the_old_logprobs_in_fp32(ppo_setup, tiny_model_factory, tmp_path):
    """fp32: the log-probs generation returns equal a packed and a padded pass (1e-5), so PPO skips that pass;
    under bf16 autocast the training passes round differently and PPO recomputes them."""
    from kaizen.generation import chat_prompt, generate
    from kaizen.ppo import PPOTrainer
    from kaizen.ppo_rollout import build_rollout

    root, rm = ppo_setup
    trainer = PPOTrainer(_cfg(root, rm, tiny_model_factory("llama"), tmp_path / "ppo", ptx_coef=0.0))
    assert trainer.reuse_logprobs
    texts = [chat_prompt(trainer.tokenizer, p) for p in trainer.prompts_for(0)]
    gens = generate(trainer.policy, trainer.tokenizer, texts, trainer.params, batch_size=len(texts), seed=3)
    r = build_rollout(gens, trainer.tokenizer.pad_token_id)
    assert r.mask.sum() > r.size  # answers of several tokens
    for padding_free in (True, False):
        trainer.padding_free = padding_free
        recomputed, _, _ = trainer._rollout_passes(r)
        diff = (recomputed - r.logprobs).abs().masked_fill(~r.mask, 0)
        assert diff.max() < 1e-5, diff.max()
        assert torch.equal(r.logprobs.masked_fill(~r.mask, 0), r.logprobs)
    bf16 = PPOTrainer(_cfg(root, rm, tiny_model_factory("llama"), tmp_path / "bf16", ptx_coef=0.0, precision="bf16"))
    assert not bf16.reuse_logprobs
