"""GRPO speed and memory: ``kaizen ppo --algo grpo`` vs TRL's GRPOTrainer, same models, prompts, rewards, steps.

    .venv/bin/python bench/grpo_vs_trl.py --steps 8 --prompts_per_step 4 --group_size 4 --max_new_tokens 32 \
        --out bench/results/grpo_vs_trl_cpu.json

The policy is bench/sft_vs_trl.py's random Llama; the reward model is that Llama with a fresh
one-output head (``load_scalar_model``, the path ``kaizen rm`` starts from), saved as the
``AutoModelForSequenceClassification`` directory Kaizen's RMs are, and handed to TRL as its
``reward_funcs`` model. The same GRPO on both sides: G answers per prompt sampled at
temperature 1, advantages = (score - group mean) / group std, the clipped ratio loss (ε 0.2)
averaged per answer and then over answers (TRL ``loss_type="grpo"``, Kaizen
``loss_normalisation=sequence``), β · k3 KL to the frozen initial policy in the loss (the same
β), one optimiser step per batch of rollouts (TRL: ``num_iterations=1``, one generation batch
per step; Kaizen: ``ppo_epochs=1``, one minibatch of all rows), AdamW at the same rate and ε,
gradient clipping at 1, no pretraining mix, no missing-EOS penalty, fp32 on the CPU. TRL runs
at its best CPU settings (no vLLM here; no dropout, no gradient checkpointing, no completion
logging). Seconds per step: wall and CPU time of each step (sampling, scoring, reference pass,
update), averaged over the steps after the first (whose one-time set-up differs by side), median
over ``--repeats`` interleaved runs of each side. The sides draw prompts in different orders and sample different answers, so their
losses and rewards agree only in scale: they are reported as a sanity check, not a match.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from generation_vs_hf import machine, spread
from jobs import run_job  # bench/jobs.py: scripts run from bench/ have it on sys.path
from sft_vs_trl import build_inputs

# argv: policy, spec JSON (prompts file, reward model, G, max_new_tokens, β, lr, threads), out dir, prompts/step, steps
KAIZEN_JOB = """
import json, resource, sys, time
spec = json.load(open(sys.argv[2]))
import torch
torch.set_num_threads(spec["threads"])
from kaizen.ppo import PPOConfig, PPOTrainer
steps, per_step = int(sys.argv[5]), int(sys.argv[4])
# `kaizen ppo`'s trainer, stepped here so each step is timed as TRL's are (run() adds logging and checkpoints).
trainer = PPOTrainer(PPOConfig(
    algo="grpo", group_size=spec["group_size"], kl_in="loss", kl_estimator="k3", loss_normalisation="sequence",
    scale_by_std=True, policy=sys.argv[1], reward_model=spec["reward_model"], prompts=[spec["prompts"]], ptx_coef=0.0,
    out=sys.argv[3], iterations=steps, rollout_batch_size=per_step, ppo_epochs=1, minibatch_size=per_step * spec["group_size"],
    lr=spec["lr"], kl_coef=spec["beta"], clip_eps=0.2, max_grad_norm=1.0, missing_eos_penalty=None,
    max_new_tokens=spec["max_new_tokens"], temperature=1.0, top_p=1.0, precision="fp32", padding_free=spec["padding_free"],
    save_every=0, seed=0))
wall, cpu, rows = [], [], []
for it in range(steps):
    w, c = time.perf_counter(), time.process_time()
    rows.append(trainer.iteration(it))
    wall.append(time.perf_counter() - w)
    cpu.append(time.process_time() - c)
print(json.dumps({"step_wall_s": wall, "step_cpu_s": cpu,
                  # where a step's time goes: sampling, RM + reference passes, the update
                  "phase_seconds_per_step": {k: sum(r[f"time_{k}_s"] for r in rows[1:]) / max(steps - 1, 1)
                                             for k in ("generation", "scoring", "training")},
                  "losses": [r["policy_loss"] for r in rows], "rewards": [r["rm_score"] for r in rows],
                  "answer_lengths": [r["response_length"] for r in rows],
                  "peak_rss_mb": peak_rss_mb()}))
"""

TRL_JOB = """
import json, resource, sys, time
spec = json.load(open(sys.argv[2]))
import torch
torch.set_num_threads(spec["threads"])
from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer


class StepTimes(TrainerCallback):  # each optimiser step's wall and CPU time, generation included
    wall, cpu = [], []

    def on_step_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.wall.append(time.perf_counter() - self.start[0])
        self.cpu.append(time.process_time() - self.start[1])


steps, per_step, group = int(sys.argv[5]), int(sys.argv[4]), spec["group_size"]
data = Dataset.from_list([json.loads(l) for l in open(spec["prompts"])])
args = GRPOConfig(output_dir=sys.argv[3], per_device_train_batch_size=per_step * group, gradient_accumulation_steps=1,
                  steps_per_generation=1, num_generations=group, num_iterations=1, max_steps=steps,
                  max_completion_length=spec["max_new_tokens"], temperature=1.0, top_p=1.0, top_k=0,
                  beta=spec["beta"], epsilon=0.2, loss_type="grpo", scale_rewards="group",
                  learning_rate=spec["lr"], adam_epsilon=1e-5, lr_scheduler_type="constant", warmup_steps=0,
                  max_grad_norm=1.0, logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True,
                  dataloader_num_workers=0, gradient_checkpointing=False, log_completions=False, use_vllm=False,
                  use_cpu=True, seed=0)
timer = StepTimes()
trainer = GRPOTrainer(model=sys.argv[1], reward_funcs=spec["reward_model"], args=args, train_dataset=data,
                      callbacks=[timer])
trainer.train()
logs = [h for h in trainer.state.log_history if "loss" in h]
print(json.dumps({"step_wall_s": timer.wall, "step_cpu_s": timer.cpu, "losses": [h["loss"] for h in logs],
                  "rewards": [h["reward"] for h in logs], "answer_lengths": [h.get("completions/mean_length") for h in logs],
                  "peak_rss_mb": peak_rss_mb()}))
"""


def build_reward_model(model: Path, out: Path) -> Path:
    """The policy with a fresh scalar head: how ``kaizen rm`` starts, saved in the format it saves."""
    import torch

    from kaizen.models.loading import load_tokenizer, save_pretrained
    from kaizen.models.scalar_head import load_scalar_model

    torch.manual_seed(0)
    return save_pretrained(load_scalar_model(str(model)), load_tokenizer(str(model)), out)


def write_prompts(world: Path, out: Path, n: int) -> Path:
    """The first ``n`` world prompts as bare conversations (TRL's dataset rejects the world's ragged metadata)."""
    from kaizen.data.jsonl import read_jsonl, write_jsonl

    rows = [{"prompt": row["prompt"]} for _, row in read_jsonl(world / "prompts_train.jsonl")][:n]
    write_jsonl(out, rows)
    return out


def per_step(run: dict) -> tuple[float, float]:
    """Mean (wall, CPU) seconds of the steps after the first (whose one-time set-up differs by side)."""
    wall, cpu = run["step_wall_s"][1:], run["step_cpu_s"][1:]
    return sum(wall) / len(wall), sum(cpu) / len(cpu)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--prompts_per_step", type=int, default=4)
    parser.add_argument("--group_size", type=int, default=4)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--beta", type=float, default=0.04, help="KL coefficient of both sides (TRL's documented 0.04).")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved runs of each side (median reported).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--padded", action="store_true",
                        help="Kaizen runs padded forward passes (default: packed, its own default).")
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--out", default=None, help="Write the summary JSON here too.")
    args = parser.parse_args(argv)
    import torch
    import transformers
    import trl

    load_start = os.getloadavg()
    runs: dict[str, list[dict]] = {"kaizen": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, _, _ = build_inputs(root, args.hidden, args.layers)
        rm = build_reward_model(model, root / "rm")
        # Enough prompts that neither side repeats one within the run.
        prompts = write_prompts(root / "world", root / "prompts.jsonl", args.steps * args.prompts_per_step)
        spec = root / "spec.json"
        spec.write_text(json.dumps({"prompts": str(prompts), "reward_model": str(rm), "group_size": args.group_size,
                                    "max_new_tokens": args.max_new_tokens, "beta": args.beta, "lr": args.lr,
                                    "threads": args.threads, "padding_free": not args.padded}))
        for i in range(args.repeats):
            for name, code in (("kaizen", KAIZEN_JOB), ("trl", TRL_JOB)):
                runs[name].append(run_job(code, model, spec, root / f"{name}{i}", args.prompts_per_step, args.steps))
    results = {}
    for name, rs in runs.items():
        walls, cpus = zip(*(per_step(r) for r in rs))
        results[name] = {"seconds_per_step": spread(list(walls)), "cpu_seconds_per_step": spread(list(cpus)),
                         "peak_rss_mb": spread([r["peak_rss_mb"] for r in rs]), "runs": rs}
    k, t = results["kaizen"], results["trl"]
    summary = {"steps": args.steps, "prompts_per_step": args.prompts_per_step, "group_size": args.group_size,
               "max_new_tokens": args.max_new_tokens, "beta": args.beta, "lr": args.lr, "repeats": args.repeats,
               "threads": args.threads, "kaizen_padding_free": not args.padded, "hidden": args.hidden,
               "layers": args.layers, "machine": machine(),
               "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
               "loadavg_start": load_start, "loadavg_end": os.getloadavg(), **results,
               "speedup_kaizen_over_trl": t["seconds_per_step"]["median"] / k["seconds_per_step"]["median"],
               "cpu_speedup_kaizen_over_trl": t["cpu_seconds_per_step"]["median"] / k["cpu_seconds_per_step"]["median"],
               "memory_ratio_kaizen_over_trl": k["peak_rss_mb"]["median"] / t["peak_rss_mb"]["median"]}
    print("| job | s / step, median (min-max) | CPU s / step | peak RSS MB | first losses (run 1) | "
          "first mean rewards (run 1) |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        w, first = r["seconds_per_step"], r["runs"][0]
        print(f"| {name} | {w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f}) | {r['cpu_seconds_per_step']['median']:.2f} | "
              f"{r['peak_rss_mb']['median']:.0f} | {', '.join(f'{x:.2e}' for x in first['losses'][:3])} | "
              f"{', '.join(f'{x:.4f}' for x in first['rewards'][:3])} |")
    print(f"\nKaizen / TRL: {summary['speedup_kaizen_over_trl']:.2f}x speed per step (wall), "
          f"{summary['cpu_speedup_kaizen_over_trl']:.2f}x (CPU), {summary['memory_ratio_kaizen_over_trl']:.2f}x peak memory.")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
