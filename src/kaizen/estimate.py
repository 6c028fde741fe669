"""``kaizen estimate STAGE [stage flags]``: peak memory of a stage's training step, before running it.

    kaizen estimate sft --model Qwen/Qwen2.5-0.5B --batch_size 8 --max_length 1024
    kaizen estimate ppo --config configs/qwen2.5-0.5b/ppo.yaml --json

The stage's own flags (or ``--config``) are parsed by its config class, so the estimate is of
the run those flags start. The model is read from its config alone (built on the meta device:
nothing is downloaded beyond config.json, no weight is loaded). Parts: weights, gradients, Adam
states, activations (training/memory.py), KV cache of generation (PPO), and the runtime (torch
and friends, measured in this process on CPU). When the total exceeds the memory available on
this machine, the command says what to change.
"""

from __future__ import annotations

import json
import resource
import sys

from kaizen.config import ConfigError, parse_config
from kaizen.training.memory import GIB, ModelShape, StepShape, advice, estimate_memory

STAGES = {"sft": ("kaizen.sft", "SFTConfig"), "rm": ("kaizen.reward", "RewardConfig"),
          "dpo": ("kaizen.dpo", "DPOConfig"), "ppo": ("kaizen.ppo", "PPOConfig")}
RM_ANSWERS = 4  # K answers per prompt in one RM micro-batch (InstructGPT used K = 4 to 9)


def model_shape(path: str, lora_r: int = 0, trust_remote_code: bool = False) -> tuple[ModelShape, float]:
    """The model's shape and the fraction of its parameters LoRA of rank ``lora_r`` trains."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    params = sum(p.numel() for p in model.parameters())
    fraction = 1.0
    if lora_r > 0:  # target_modules="all-linear": every linear layer but the LM head
        head = model.get_output_embeddings()
        lora = sum(lora_r * (m.in_features + m.out_features) for m in model.modules()
                   if isinstance(m, torch.nn.Linear) and m is not head)
        fraction = lora / params
    return ModelShape.from_config(config, params), fraction


def step_shape(stage: str, cfg, fraction: float, activation_bytes: int) -> StepShape:
    common = dict(trainable_fraction=fraction, activation_bytes=activation_bytes,
                  gradient_checkpointing=getattr(cfg, "gradient_checkpointing", False))
    if stage == "sft":
        return StepShape(cfg.batch_size, cfg.max_length, **common)
    if stage == "rm":
        return StepShape(cfg.batch_size * RM_ANSWERS, cfg.max_length, **common)
    if stage == "dpo":
        frozen = 0 if (cfg.precompute_ref or cfg.lora_r > 0) and cfg.ref_model is None else 1
        return StepShape(2 * cfg.batch_size, cfg.max_length, frozen_copies=frozen, **common)
    group = cfg.group_size if cfg.algo != "ppo" else 1
    seq = cfg.max_prompt_tokens + cfg.max_new_tokens
    return StepShape(cfg.minibatch_size, seq, trained_copies=2 if cfg.algo == "ppo" else 1,
                     frozen_copies=(0 if cfg.lora_r > 0 else 1) + 1,  # reference (unless LoRA) + reward model
                     kv_cache_tokens=cfg.rollout_batch_size * group * seq, **common)


def available_bytes() -> tuple[int, str]:
    import torch

    if torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return free, f"GPU {torch.cuda.get_device_name()}"
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024, "CPU RAM"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in STAGES:
        print(f"usage: kaizen estimate {{{','.join(STAGES)}}} [that stage's flags, or --config FILE] [--json]",
              file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    stage, rest = argv[0], [a for a in argv[1:] if a != "--json"]
    as_json = "--json" in argv
    import importlib

    from kaizen.models.loading import resolve_precision

    module, class_name = STAGES[stage]
    cfg = parse_config(getattr(importlib.import_module(module), class_name), rest, prog=f"kaizen estimate {stage}")
    model_path = cfg.policy if stage == "ppo" else cfg.model
    try:
        shape, fraction = model_shape(model_path, cfg.lora_r, cfg.trust_remote_code)
    except OSError as e:
        raise ConfigError(f"config key '{'policy' if stage == 'ppo' else 'model'}': cannot read {model_path}: {e}") from e
    precision = resolve_precision(cfg.precision)
    step = step_shape(stage, cfg, fraction, 4 if precision == "fp32" else 2)
    import torch

    runtime = 512 * 1024**2 if torch.cuda.is_available() else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    est = estimate_memory(shape, step, runtime_bytes=runtime)
    available, where = available_bytes()
    tips = advice(est, available, step)
    if as_json:
        print(json.dumps({"stage": stage, "params": shape.params, "precision": precision, "parts": est.parts,
                          "total": est.total, "available": available, "fits": not tips, "advice": tips}))
        return 0
    print(f"kaizen estimate {stage}: {shape.params / 1e6:.1f}M parameters ({fraction:.2%} trained), {precision}, "
          f"micro-batch {step.micro_batch} x {step.seq_len} tokens")
    print(est.table())
    verdict = "fits" if not tips else "does NOT fit"
    print(f"{verdict} in the {available / GIB:.1f} GiB free of {where}")
    for tip in tips:
        print(f"  - {tip}")
    return 0
