"""Where a PPO(-ptx) iteration's time goes, padded vs padding-free passes, in CPU seconds.

    .venv/bin/python bench/ppo_update_profile.py --sft demo-out/sft/model --rm demo-out/rm/model \
        --prompts demo-out/world/prompts_train.jsonl --corpus demo-out/world/corpus_train.jsonl

Runs the demo's PPO-ptx settings (64 prompts, minibatches of 16, ptx γ 0.1) for a warm-up and two
timed iterations per variant, every variant on the same prompts and seed, and reports CPU seconds
(process time: the 2-core machines these run on are shared, and wall time there measures the
neighbours) of the rollout passes (old/reference log-probs, values) and the update, with the
first losses so that a faster variant that computes something else shows.
"""

from __future__ import annotations

import argparse
import json
import time

VARIANTS = {
    "padded_fp32": {"padding_free": False, "precision": "fp32"},
    "packed_fp32": {"padding_free": True, "precision": "fp32"},
    "padded_bf16": {"padding_free": False, "precision": "bf16"},
    "packed_bf16": {"padding_free": True, "precision": "bf16"},
}


def _cpu_timed(trainer, name: str, totals: dict[str, float]) -> None:
    inner = getattr(trainer, name)

    def timed(*a, **kw):
        start = time.process_time()
        out = inner(*a, **kw)
        totals[name] = totals.get(name, 0.0) + time.process_time() - start
        return out

    setattr(trainer, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sft", required=True)
    ap.add_argument("--rm", required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--ppo_epochs", type=int, default=4)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import tempfile

    import torch

    from kaizen.ppo import PPOConfig, PPOTrainer

    results = {}
    for name in args.variants:
        cfg = PPOConfig(policy=args.sft, reward_model=args.rm, prompts=[args.prompts], ptx_data=[args.corpus],
                        out=tempfile.mkdtemp(), rollout_batch_size=64, ppo_epochs=args.ppo_epochs, minibatch_size=16,
                        max_new_tokens=48, ptx_coef=0.1, kl_coef=0.3, lr=5e-5, value_lr=1e-4, save_every=0,
                        **VARIANTS[name])
        trainer = PPOTrainer(cfg)
        trainer.iteration(0)  # warm-up: kernels chosen, the packing check done
        totals: dict[str, float] = {}
        for method in ("_rollout_passes", "_optimise"):
            _cpu_timed(trainer, method, totals)
        start = time.process_time()
        rows = [trainer.iteration(it) for it in (1, 2)]
        results[name] = {
            "cpu_s_per_iteration": (time.process_time() - start) / 2,
            "cpu_s_rollout_passes": totals["_rollout_passes"] / 2, "cpu_s_update": totals["_optimise"] / 2,
            "policy_loss": [r["policy_loss"] for r in rows], "kl": [r["kl"] for r in rows],
        }
        print(name, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in results[name].items()}))
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
