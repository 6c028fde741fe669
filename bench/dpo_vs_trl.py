"""DPO speed and memory: Kaizen vs TRL's DPOTrainer, same model, pairs, steps and batch, one run.

    .venv/bin/python bench/dpo_vs_trl.py --steps 30 --batch_size 8 [--hidden 192 --layers 4]

Pairs come from the demo world's single-turn demonstrations: chosen = the demonstration's
answer, rejected = the answer of another prompt (built locally; nothing is downloaded). Both
jobs: sigmoid loss, β = 0.1, AdamW at the same rate, reference log-probs precomputed once (TRL
``precompute_ref_log_probs``, Kaizen's default), fp32 on the CPU. TRL runs at its best
documented settings for this case: ``padding_free=True`` (no padding tokens in the batch). Each
job runs in its own process; reported: training seconds, pairs/s, peak RSS, the first two
losses of each (the first is log 2 for both when the policy is the reference), and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

from jobs import environment, run_job  # bench/jobs.py: scripts run from bench/ have it on sys.path

KAIZEN_JOB = """
import json, resource, sys, time
t0 = time.perf_counter()
from kaizen.dpo import DPOConfig, run
run(DPOConfig(model=sys.argv[1], data=[sys.argv[2]], eval_data=None, out=sys.argv[3], batch_size=int(sys.argv[4]),
              max_steps=int(sys.argv[5]), lr=5e-5, beta=0.1, warmup_steps=0, save_every=0, log_every=1,
              max_length=512, precision="fp32", precompute_ref=True))
rows = [json.loads(l) for l in open(sys.argv[3] + "/metrics.jsonl") if "train/loss" in l]
steps = int(sys.argv[5])
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "train_seconds": (rows[-1]["time"] - rows[0]["time"]) * steps / max(steps - 1, 1),
                  "first_losses": [r["train/loss"] for r in rows[:2]],
                  "peak_rss_mb": peak_rss_mb()}))
"""

TRL_JOB = """
import json, resource, sys, time
t0 = time.perf_counter()
from datasets import Dataset
from trl import DPOConfig, DPOTrainer
data = Dataset.from_list([json.loads(l) for l in open(sys.argv[2])])
args = DPOConfig(output_dir=sys.argv[3], per_device_train_batch_size=int(sys.argv[4]), max_steps=int(sys.argv[5]),
                 learning_rate=5e-5, beta=0.1, lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1,
                 save_strategy="no", report_to=[], max_length=512, precompute_ref_log_probs=True,
                 padding_free=True, dataloader_num_workers=0, disable_tqdm=True, use_cpu=True)
trainer = DPOTrainer(model=sys.argv[1], args=args, train_dataset=data)
train = trainer.train()
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
print(json.dumps({"seconds": time.perf_counter() - t0, "train_seconds": train.metrics["train_runtime"],
                  "first_losses": losses[:2], "peak_rss_mb": peak_rss_mb()}))
"""


def build_inputs(root: Path, hidden: int, layers: int) -> tuple[Path, Path]:
    from transformers import AutoModelForCausalLM

    from kaizen.data.jsonl import read_jsonl, write_jsonl
    from kaizen.models.architectures import ModelSize, build_config
    from kaizen.models.loading import save_pretrained
    from kaizen.models.tokenizer import train_bpe_tokenizer
    from kaizen.world import WorldConfig, build_world

    world = build_world(WorldConfig(out=str(root / "world"), corpus_docs=2000))
    tok = train_bpe_tokenizer([row["text"] for _, row in read_jsonl(world / "corpus_train.jsonl")], vocab_size=2048)
    cfg = build_config("llama", ModelSize(hidden, layers, 4, max_positions=512), len(tok), tok.bos_token_id,
                       tok.eos_token_id, tok.pad_token_id)
    model_dir = save_pretrained(AutoModelForCausalLM.from_config(cfg), tok, root / "model")
    rows = [row["messages"] for _, row in read_jsonl(world / "sft_train.jsonl") if len(row["messages"]) == 2]
    rng = random.Random(0)
    pairs = [{"prompt": m[:1], "chosen": m[1:], "rejected": rng.choice(rows)[1:]} for m in rows]
    write_jsonl(root / "pairs.jsonl", [p for p in pairs if p["chosen"] != p["rejected"]])
    return model_dir, root / "pairs.jsonl"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, data = build_inputs(root, args.hidden, args.layers)
        results = {name: run_job(code, model, data, root / name, args.batch_size, args.steps)
                   for name, code in (("kaizen", KAIZEN_JOB), ("trl", TRL_JOB))}
    for r in results.values():
        r["pairs_per_s"] = args.batch_size * args.steps / r["train_seconds"]
    k, t = results["kaizen"], results["trl"]
    summary = {"steps": args.steps, "batch_size": args.batch_size, "hidden": args.hidden, "layers": args.layers,
               **environment(), "load": (load_start[0], os.getloadavg()[0]), **results,
               "train_speedup_kaizen_over_trl": t["train_seconds"] / k["train_seconds"],
               "memory_ratio_kaizen_over_trl": k["peak_rss_mb"] / t["peak_rss_mb"],
               "first_loss_difference": abs(k["first_losses"][0] - t["first_losses"][0])}
    print("| job | training s | pairs/s | peak RSS MB | first losses |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['train_seconds']:.1f} | {r['pairs_per_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{', '.join(f'{x:.4f}' for x in r['first_losses'])} |")
    print(f"\nKaizen / TRL: {summary['train_speedup_kaizen_over_trl']:.2f}x training speed, "
          f"{summary['memory_ratio_kaizen_over_trl']:.2f}x peak memory.")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
