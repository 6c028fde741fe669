"""PPO speed and memory: `kaizen ppo` vs TRL's PPOTrainer (TRL 1.12, its last release with one), one run.

    bench/setup_trl_ppo.sh                  # once: TRL 1.12 in bench/.venv-trl-ppo, libraries shared
    .venv/bin/python bench/ppo_vs_trl.py --iterations 3 --repeats 3 --out bench/results/ppo_vs_trl_cpu.json

Both sides train the same random Llama policy against the same random one-label Llama
sequence classifier (policy-sized; the reward model and the value model's initialisation, as
InstructGPT), on the demo world's prompts rendered with the chat template: plain PPO (Kaizen
``--algo ppo --ptx_coef 0``), fp32 on the CPU, the same rollout batch, minibatch (one optimizer
step per minibatch on both), PPO epochs, response length, temperature, KL β (k1 estimator, in the
reward), clip ranges, GAE γ/λ, learning rate (policy and value), AdamW ε and weight decay, no
missing-EOS penalty. Left as each trainer has it: TRL adds 0.1 x the value loss to the policy
loss under one optimizer and never clips gradients; Kaizen steps two optimizers and clips at 1.0
(its default, which only costs it time); TRL stops an answer at one token id (``<|end|>``),
Kaizen at ``</s>`` or ``<|end|>``; each side draws its own prompt order and samples.

Each job is its own process (Kaizen in this interpreter, TRL in its venv's); the sides alternate
which goes first over ``--repeats``. Per job: wall and CPU seconds of each iteration after the
first (warm-up), peak RSS, iteration 1's mean policy loss, value loss, RM score and KL. Reported:
medians over repeats and the TRL / Kaizen ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from jobs import machine, run_job  # bench/jobs.py: scripts run from bench/ have it on sys.path
from sft_vs_trl import build_inputs

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Settings:
    """What both jobs read from the settings file (the demo's PPO shape, configs/demo/ppo_ptx.yaml, minus ptx)."""

    reward_model: str
    prompts: str
    rollout_batch_size: int = 64
    minibatch_size: int = 16
    ppo_epochs: int = 4
    response_length: int = 48
    temperature: float = 1.0
    kl_coef: float = 0.05
    lr: float = 1e-5
    seed: int = 0
    padding_free: bool = True  # Kaizen only: its default packed passes, or padded ones as TRL's


KAIZEN_JOB = """
import json, resource, sys, time
import torch
import kaizen
from kaizen.ppo import PPOConfig, PPOTrainer
s = json.load(open(sys.argv[2]))
cfg = PPOConfig(algo="ppo", policy=sys.argv[1], reward_model=s["reward_model"], prompts=[s["prompts"]], ptx_coef=0.0,
                out=sys.argv[3], rollout_batch_size=int(sys.argv[4]), minibatch_size=s["minibatch_size"],
                ppo_epochs=s["ppo_epochs"], max_new_tokens=s["response_length"], temperature=s["temperature"],
                kl_coef=s["kl_coef"], kl_estimator="k1", lr=s["lr"], value_lr=s["lr"], missing_eos_penalty=None,
                precision="fp32", seed=s["seed"], save_every=0, padding_free=s["padding_free"])
trainer = PPOTrainer(cfg)
iterations = []
for it in range(int(sys.argv[5])):
    wall, cpu = time.perf_counter(), time.process_time()
    st = trainer.iteration(it)
    iterations.append({"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                       "policy_loss": st["policy_loss"], "value_loss": st["value_loss"], "score": st["rm_score"],
                       "kl": st["kl"], "response_length": st["response_length"],
                       **{k: st[k] for k in ("time_generation_s", "time_scoring_s", "time_training_s")}})
print(json.dumps({"iterations": iterations, "peak_rss_mb": peak_rss_mb(),
                  "threads": torch.get_num_threads(), "versions": {"kaizen": kaizen.__version__,
                  "torch": torch.__version__, "transformers": __import__("transformers").__version__}}))
"""

TRL_JOB = """
import json, os, resource, sys, time
os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
import torch, transformers, trl
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
from trl.experimental.ppo import PPOConfig, PPOTrainer
s = json.load(open(sys.argv[2]))
rollout, iters = int(sys.argv[4]), int(sys.argv[5])
tok = AutoTokenizer.from_pretrained(sys.argv[1], padding_side="left")  # PPOTrainer appends answers to the right
rows = [json.loads(l) for l in open(s["prompts"])]
ids = [tok(tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True),
           add_special_tokens=False)["input_ids"] for r in rows]
data = Dataset.from_dict({"input_ids": ids})

class Clock(TrainerCallback):
    marks = []
    def on_train_begin(self, *a, **k):
        self.marks.append((time.perf_counter(), time.process_time()))
    def on_step_end(self, *a, **k):  # PPOTrainer: after each iteration's update and its log
        self.marks.append((time.perf_counter(), time.process_time()))

args = PPOConfig(output_dir=sys.argv[3], per_device_train_batch_size=rollout, gradient_accumulation_steps=1,
                 num_mini_batches=rollout // s["minibatch_size"], num_ppo_epochs=s["ppo_epochs"],
                 total_episodes=rollout * iters, local_rollout_forward_batch_size=rollout,
                 response_length=s["response_length"], temperature=s["temperature"], kl_coef=s["kl_coef"],
                 kl_estimator="k1", cliprange=0.2, cliprange_value=0.2, gamma=1.0, lam=0.95,
                 learning_rate=s["lr"], lr_scheduler_type="constant", adam_epsilon=1e-5, weight_decay=0.01,
                 stop_token_id=tok.convert_tokens_to_ids("<|end|>"), missing_eos_penalty=None,
                 num_sample_generations=0, logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True,
                 use_cpu=True, bf16=False, fp16=False, seed=s["seed"], dataloader_num_workers=0)
clock = Clock()
trainer = PPOTrainer(args=args, processing_class=tok, model=AutoModelForCausalLM.from_pretrained(sys.argv[1]),
                     ref_model=AutoModelForCausalLM.from_pretrained(sys.argv[1]),
                     reward_model=AutoModelForSequenceClassification.from_pretrained(s["reward_model"], num_labels=1),
                     value_model=AutoModelForSequenceClassification.from_pretrained(s["reward_model"], num_labels=1),
                     train_dataset=data, eval_dataset=data.select(range(8)), callbacks=[clock])
trainer.train()
logs = [h for h in trainer.state.log_history if "loss/policy_avg" in h]
iterations = [{"wall_s": b[0] - a[0], "cpu_s": b[1] - a[1], "policy_loss": h["loss/policy_avg"],
               "value_loss": h["loss/value_avg"], "score": h["objective/scores"], "kl": h["objective/kl"]}
              for a, b, h in zip(clock.marks, clock.marks[1:], logs)]
print(json.dumps({"iterations": iterations, "peak_rss_mb": peak_rss_mb(),
                  "threads": torch.get_num_threads(), "versions": {"trl": trl.__version__, "torch": torch.__version__,
                  "transformers": transformers.__version__}}))
"""


def build_reward_model(model_dir: Path, out: Path) -> Path:
    """A random one-label Llama classifier of the policy's size, saved as `kaizen rm` saves one (with its tokenizer)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from kaizen.models.loading import load_tokenizer, save_pretrained

    tok = load_tokenizer(str(model_dir))
    cfg = AutoConfig.from_pretrained(model_dir, num_labels=1)
    cfg.pad_token_id = tok.pad_token_id
    return save_pretrained(AutoModelForSequenceClassification.from_config(cfg), tok, out)


def timed_mean(job: dict, key: str) -> float:
    """Mean ``key`` seconds over the iterations after the first (the warm-up: kernels, first-call checks)."""
    timed = job["iterations"][1:] or job["iterations"]
    return sum(i[key] for i in timed) / len(timed)


def summarise(jobs: dict[str, list[dict]]) -> dict:
    sides = {}
    for name, runs in jobs.items():
        sides[name] = {
            "wall_s_per_iteration": statistics.median(timed_mean(j, "wall_s") for j in runs),
            "cpu_s_per_iteration": statistics.median(timed_mean(j, "cpu_s") for j in runs),
            "peak_rss_mb": statistics.median(j["peak_rss_mb"] for j in runs),
            "first_iteration": {k: v for k, v in runs[0]["iterations"][0].items() if not k.endswith("_s")},
            "versions": runs[0]["versions"], "threads": runs[0]["threads"],
            "runs": runs,
        }
    t = sides["trl"]
    ratios = {}
    for name in (n for n in sides if n != "trl"):
        k = sides[name]
        ratios[f"speedup_{name}_over_trl_wall"] = t["wall_s_per_iteration"] / k["wall_s_per_iteration"]
        ratios[f"speedup_{name}_over_trl_cpu"] = t["cpu_s_per_iteration"] / k["cpu_s_per_iteration"]
        ratios[f"memory_ratio_{name}_over_trl"] = k["peak_rss_mb"] / t["peak_rss_mb"]
    return {**sides, **ratios}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=3, help="PPO iterations per job; the first is warm-up.")
    ap.add_argument("--repeats", type=int, default=3, help="Jobs per side, interleaved; medians are reported.")
    ap.add_argument("--rollout_batch_size", type=int, default=64)
    ap.add_argument("--minibatch_size", type=int, default=16)
    ap.add_argument("--ppo_epochs", type=int, default=4)
    ap.add_argument("--response_length", type=int, default=48)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--kaizen_padded", action="store_true",
                    help="Also run Kaizen with padded passes (padding_free=false) as a third side.")
    ap.add_argument("--trl_venv", default=str(HERE / ".venv-trl-ppo"),
                    help="The TRL 1.12 venv (bench/setup_trl_ppo.sh VENV builds it; built here if missing).")
    ap.add_argument("--out", default=None, help="Write the summary JSON here too.")
    args = ap.parse_args(argv)
    import torch

    trl_python = str(Path(args.trl_venv) / "bin" / "python")
    subprocess.run([str(HERE / "setup_trl_ppo.sh"), args.trl_venv], check=True)  # a no-op once built
    load_start = os.getloadavg()
    # side -> (job, interpreter, Kaizen's padding_free)
    sides = {"kaizen": (KAIZEN_JOB, None, True), "trl": (TRL_JOB, trl_python, True)}
    if args.kaizen_padded:
        sides["kaizen_padded"] = (KAIZEN_JOB, None, False)
    jobs: dict[str, list[dict]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        model, _, _ = build_inputs(root, args.hidden, args.layers)
        settings = Settings(reward_model=str(build_reward_model(model, root / "rm")),
                            prompts=str(root / "world" / "prompts_train.jsonl"),
                            rollout_batch_size=args.rollout_batch_size, minibatch_size=args.minibatch_size,
                            ppo_epochs=args.ppo_epochs, response_length=args.response_length)
        for padding_free in (True, False):
            settings_file = root / f"settings-{padding_free}.json"
            settings_file.write_text(json.dumps(asdict(settings) | {"padding_free": padding_free}))
        for rep in range(args.repeats):
            # Alternate who goes first, so a neighbour's load drifting during the run hits every side.
            order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
            for name in order:
                code, python, padding_free = sides[name]
                r = run_job(code, model, root / f"settings-{padding_free}.json", root / f"{name}-{rep}",
                            args.rollout_batch_size, args.iterations, python=python)
                jobs[name].append(r)
                print(f"repeat {rep} {name}: " + ", ".join(f"{i['wall_s']:.1f}" for i in r["iterations"])
                      + f" s/iteration, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    settings_row = {k: v for k, v in asdict(settings).items() if k not in ("reward_model", "prompts", "padding_free")}
    summary = {"machine": machine(), "iterations": args.iterations, "repeats": args.repeats,
               "hidden": args.hidden, "layers": args.layers, **settings_row, **summarise(jobs),
               "loadavg_start": load_start, "loadavg_end": os.getloadavg()}
    print("\n| job | wall s / iteration | CPU s / iteration | peak RSS MB | iteration 1: policy loss, value loss, "
          "score, KL |\n|---|---|---|---|---|")
    for name in sides:
        side, f = summary[name], summary[name]["first_iteration"]
        print(f"| {name} | {side['wall_s_per_iteration']:.2f} | {side['cpu_s_per_iteration']:.2f} | "
              f"{side['peak_rss_mb']:.0f} | {f['policy_loss']:.4f}, {f['value_loss']:.4f}, {f['score']:.4f}, "
              f"{f['kl']:.4f} |")
    for name in (n for n in sides if n != "trl"):
        print(f"{name} / TRL PPOTrainer: {summary[f'speedup_{name}_over_trl_wall']:.2f}x speed (wall), "
              f"{summary[f'speedup_{name}_over_trl_cpu']:.2f}x (CPU time), "
              f"{summary[f'memory_ratio_{name}_over_trl']:.2f}x peak memory")
    print(f"load average {load_start[0]:.1f} -> {summary['loadavg_end'][0]:.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
