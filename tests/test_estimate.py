"""`kaizen estimate`: the memory arithmetic by hand, and the command on a tiny model."""

import json
import subprocess
import sys

from kaizen.training.memory import ModelShape, StepShape, advice, estimate_memory

SHAPE = ModelShape(params=1000, hidden=8, layers=2, intermediate=16, vocab=10, kv_dim=8)


def test_sft_step_by_hand():
    est = estimate_memory(SHAPE, StepShape(micro_batch=2, seq_len=3), runtime_bytes=7)
    # 6 tokens x 2 layers x (10·8 + 4·16) values x 4 bytes; logits 6 x 10 x (4 + 2·4).
    assert est.parts == {"weights": 4000, "gradients": 4000, "adam": 8000, "activations": 6 * 2 * 144 * 4 + 720,
                         "kv_cache": 0, "runtime": 7}
    assert est.total == 23639
    ckpt = estimate_memory(SHAPE, StepShape(2, 3, gradient_checkpointing=True))
    assert ckpt.parts["activations"] == 6 * 2 * 16 * 4 + 720


def test_ppo_step_by_hand():
    # Policy and value trained, reference and reward frozen, 5 tokens of KV cache.
    est = estimate_memory(SHAPE, StepShape(2, 3, trained_copies=2, frozen_copies=2, kv_cache_tokens=5))
    assert est.parts["weights"] == 16000 and est.parts["gradients"] == 8000 and est.parts["adam"] == 16000
    assert est.parts["activations"] == 2 * 6912 + 720 and est.parts["kv_cache"] == 2 * 2 * 8 * 5 * 4
    lora = estimate_memory(SHAPE, StepShape(2, 3, trainable_fraction=0.01))
    assert lora.parts["gradients"] == 40 and lora.parts["adam"] == 80


def test_advice_only_when_it_does_not_fit():
    step = StepShape(8, 512)
    est = estimate_memory(SHAPE, step)
    assert advice(est, est.total, step) == []
    tips = advice(est, est.total - 1, step)
    assert any("gradient_checkpointing" in t for t in tips) and any("lora_r" in t for t in tips)


def test_estimate_command_on_a_tiny_model(tiny_model_factory):
    model = str(tiny_model_factory("llama"))
    out = subprocess.run([sys.executable, "-m", "kaizen", "estimate", "dpo", "--model", model, "--batch_size", "4",
                          "--max_length", "64", "--precision", "fp32", "--json"],
                         capture_output=True, text=True, check=True).stdout
    est = json.loads(out.strip().splitlines()[-1])
    assert est["stage"] == "dpo" and est["params"] > 0 and est["fits"]
    assert est["parts"]["weights"] == est["params"] * 4  # the reference is precomputed: one copy
    lora = json.loads(subprocess.run([sys.executable, "-m", "kaizen", "estimate", "dpo", "--model", model,
                                      "--lora_r", "4", "--precision", "fp32", "--json"],
                                     capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    assert lora["parts"]["adam"] < est["parts"]["adam"] / 2
