"""Reward-model speed and memory: `kaizen rm` vs TRL's RewardTrainer, same model, pairs, steps, batch.

    .venv/bin/python bench/rm_vs_trl.py --steps 40 --batch_size 16 --repeats 3 --out bench/results/rm_vs_trl_cpu.json

Pairs: the demo world's simulated labelers rank two answers to each train prompt (round-robin, as
``kaizen rank`` deals prompts to them), drawn from the world's answers of known quality (ideal,
wrong, rude, truncated, padded, ...; what ``measure_agreement`` ranks); ties are dropped, the
better answer is ``chosen``. Both trainers
read the same file (TRL's conversational preference format; Kaizen reads each pair as a K = 2
ranking) and start from the same weights: the random Llama with a one-output head saved once, so
neither side draws its own head. Both: Bradley-Terry loss -log σ(r_chosen - r_rejected) averaged
over the batch's pairs, AdamW (β2 0.95, Kaizen's), the same learning rate, cosine schedule without
warm-up, grad-norm clip 1, batch of pairs, steps and max length, fp32 on the CPU. The data set is
``steps x batch_size`` pairs, so a run is exactly one epoch: both sides train on every pair once
and do the same work up to padding, which is what their length-grouping decides (the padded
tokens of each run's batches are counted and reported).

Three jobs, run interleaved (kaizen, trl_best, trl_default, kaizen, ...) ``--repeats`` times:

- ``kaizen``: its defaults (length-bucketed batches, no gradient checkpointing).
- ``trl_best``: TRL at its best CPU setting for this job: length-grouped batches
  (``train_sampling_strategy="group_by_length"``, transformers 5's name for ``group_by_length``) and
  no gradient checkpointing. The sampler reads the ``length`` column (``length_column_name``);
  Trainer drops unused columns before it builds the sampler, so the job adds that column to the
  tokenized dataset (the longer answer of each pair, the width the collator pads the pair to) and
  sets ``remove_unused_columns=False``. RewardConfig has no ``padding_free``.
- ``trl_default``: TRL's defaults for context (random order, ``gradient_checkpointing=True``).

Reported per job: training seconds (per-step end timestamps, the same way for every job), pairs/s
and peak RSS as median and min-max over the repeats; the first two losses; Kaizen / TRL ratios of
the medians. The batches differ in order (each side has its own length-grouping), so the first
losses differ by the batches' contents, not by the numerics, which ``init_loss_all_pairs`` checks:
both sides' loss over every pair at the shared initial weights, each with its own tokenization.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

# bench/jobs.py: scripts run from bench/ have it on sys.path
from jobs import RESULTS, build_world_and_model, environment, print_table, run_interleaved, spread, summarize

KAIZEN_JOB = """
import json, sys, time
t0 = time.perf_counter()
import kaizen.reward
from kaizen.reward import RewardConfig, run
steps, padded = int(sys.argv[5]), []
collate = kaizen.reward.collate_rankings

def counting_collate(items, pad_id):  # observes the tokens each training batch holds, padding included
    batch = collate(items, pad_id)
    padded.append(batch["input_ids"].numel())
    return batch

kaizen.reward.collate_rankings = counting_collate
# eval_fraction 0: train on every pair, as TRL does (no held-out split to score along the way)
run(RewardConfig(model=sys.argv[1], data=[sys.argv[2]], eval_data=None, eval_fraction=0.0, out=sys.argv[3],
                 batch_size=int(sys.argv[4]), max_steps=steps, lr=1e-4, warmup_steps=0, save_every=0, eval_every=0,
                 log_every=1, max_length=512, precision="fp32"))
rows = [json.loads(l) for l in open(sys.argv[3] + "/metrics.jsonl") if "train/loss" in l]
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "train_seconds": (rows[-1]["time"] - rows[0]["time"]) * steps / max(steps - 1, 1),
                  "first_losses": [r["train/loss"] for r in rows[:2]], "padded_tokens": sum(padded),
                  "peak_rss_mb": peak_rss_mb()}))
"""

TRL_JOB = """
import json, sys, time
t0 = time.perf_counter()
from datasets import Dataset
from transformers import TrainerCallback
from trl import RewardConfig, RewardTrainer
steps, stamps = int(sys.argv[5]), []

class StepTimes(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        stamps.append(time.time())

best = dict(gradient_checkpointing=False, train_sampling_strategy="group_by_length", remove_unused_columns=False)
data = Dataset.from_list([json.loads(l) for l in open(sys.argv[2])])
args = RewardConfig(output_dir=sys.argv[3], per_device_train_batch_size=int(sys.argv[4]), max_steps=steps,
                    learning_rate=1e-4, lr_scheduler_type="cosine", warmup_steps=0, adam_beta2=0.95, logging_steps=1,
                    save_strategy="no", report_to=[], max_length=512, dataloader_num_workers=0, disable_tqdm=True,
                    bf16=False, use_cpu=True, **(best if BEST else {}))
trainer = RewardTrainer(model=sys.argv[1], args=args, train_dataset=data, callbacks=[StepTimes()])
if BEST:
    trainer.train_dataset = trainer.train_dataset.map(
        lambda e: {"length": max(len(e["chosen_ids"]), len(e["rejected_ids"]))},
        remove_columns=["prompt", "chosen", "rejected"])
padded, collate = [], trainer.data_collator

def counting_collate(examples):  # observes the tokens each training batch holds, padding included
    batch = collate(examples)
    padded.append(batch["input_ids"].numel())
    return batch

trainer.data_collator = counting_collate
train = trainer.train()
trainer.save_model(sys.argv[3] + "/model")
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "train_seconds": (stamps[-1] - stamps[0]) * steps / max(steps - 1, 1),
                  "trainer_train_runtime": train.metrics["train_runtime"], "first_losses": losses[:2],
                  "padded_tokens": sum(padded), "peak_rss_mb": peak_rss_mb()}))
"""

JOBS = {"kaizen": KAIZEN_JOB, "trl_best": "BEST = True\n" + TRL_JOB, "trl_default": "BEST = False\n" + TRL_JOB}


def build_pairs(world_dir: Path, out: Path, n: int, seed: int = 0) -> int:
    """``n`` labeler-ranked (chosen, rejected) pairs, one per train prompt of the world (fewer if the
    world has fewer prompts); returns how many."""
    from kaizen.data.jsonl import write_jsonl
    from kaizen.data.records import conversation_to_dicts
    from kaizen.world.world import DemoWorld
    from kaizen.world.writer import variants

    world = DemoWorld.load(world_dir)
    labelers = world.labelers()
    rng = random.Random(f"{seed}:bench-rm-pairs")
    rows = []
    for i, prompt in enumerate(world.prompts("train")):
        if len(rows) == n:
            break
        pool = list(dict.fromkeys(variants(world.writer, prompt, rng).values()))
        answers = rng.sample(pool, 2)
        ranks = labelers[i % len(labelers)].rank(prompt, answers, rng).ranks  # round-robin, as `kaizen rank`
        if ranks[0] == ranks[1]:
            continue
        chosen, rejected = answers if ranks[0] < ranks[1] else answers[::-1]
        rows.append({"prompt": conversation_to_dicts(prompt.messages),
                     "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}]})
    write_jsonl(out, rows)
    return len(rows)


def save_initial_rm(model_dir: Path, out: Path, seed: int = 0) -> Path:
    """The causal LM with a seeded one-output head, saved, so both trainers start from the same weights."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def init_losses(rm_dir: Path, pairs: Path) -> dict[str, float]:
    """The loss over every pair at the initial weights, through each side's own tokenization and pooling
    (Kaizen: ``reward.encode`` + the head at the last real token; TRL: the chat template via its
    ``_tokenize`` + the classifier's logits). Equal up to float rounding if both compute the same thing."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl.data_utils import _tokenize  # what RewardTrainer tokenizes conversations with

    from kaizen.models.scalar_head import sequence_scores
    from kaizen.reward import encode
    from kaizen.training.batching import pad_batch

    tok = AutoTokenizer.from_pretrained(rm_dir)
    model = AutoModelForSequenceClassification.from_pretrained(rm_dir, num_labels=1).eval()
    rows = [json.loads(line) for line in pairs.open()]
    kaizen_ids = [encode(tok, r["prompt"], r[side][0]["content"], 512) for r in rows for side in ("chosen", "rejected")]
    trl_ids = [_tokenize(tok, r["prompt"] + r[side])["input_ids"] for r in rows for side in ("chosen", "rejected")]
    out = {"pairs": len(rows), "token_sequences_differing": sum(a != b for a, b in zip(kaizen_ids, trl_ids))}
    with torch.no_grad():
        for name, ids in (("kaizen", kaizen_ids), ("trl", trl_ids)):
            scores = []
            for s in range(0, len(ids), 64):  # chosen/rejected stay adjacent: 64 is even
                b = pad_batch(ids[s:s + 64], None, tok.pad_token_id)
                if name == "kaizen":
                    scores.append(sequence_scores(model, b["input_ids"], b["attention_mask"]))
                else:
                    scores.append(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, 0])
            r = torch.cat(scores).view(-1, 2)
            out[f"{name}_loss"] = float(-torch.nn.functional.logsigmoid(r[:, 0] - r[:, 1]).mean())
    out["difference"] = abs(out["kaizen_loss"] - out["trl_loss"])
    return out


def print_work(summary: dict) -> None:
    for name, job in summary["jobs"].items():
        print(f"{name}: {job['padded_tokens']} tokens in its batches, padding included; "
              f"{job['padded_tokens_per_s']['median']:.0f} of them per second")


def print_init_check(init: dict) -> None:
    print(f"init loss over all {init['pairs']} pairs, same weights: kaizen {init['kaizen_loss']:.6f}, "
          f"trl {init['trl_loss']:.6f} ({init['token_sequences_differing']} token sequences differ)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=16, help="Pairs per optimizer step.")
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="Rounds of the three jobs, interleaved.")
    parser.add_argument("--out", default=None, help=f"Write the summary JSON here (e.g. {RESULTS}/rm_vs_trl_cpu.json).")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world, model_dir, _ = build_world_and_model(root, args.hidden, args.layers)
        # Exactly one epoch: both trainers see every pair once, so they do the same work up to padding
        # (the one thing their length-grouping decides), and the run never crosses an epoch boundary.
        n_pairs = build_pairs(world, root / "pairs.jsonl", args.steps * args.batch_size)
        if n_pairs < args.steps * args.batch_size:
            raise SystemExit(f"the world has {n_pairs} pairs, fewer than {args.steps} x {args.batch_size}")
        rm_dir = save_initial_rm(model_dir, root / "rm-init")
        init = init_losses(rm_dir, root / "pairs.jsonl")
        runs = run_interleaved(JOBS, args.repeats, rm_dir, root / "pairs.jsonl", root, args.batch_size, args.steps)
    summary = {"benchmark": "rm_vs_trl", **environment(), "load_average_start": load_start,
               "load_average_end": os.getloadavg(), "steps": args.steps, "batch_size": args.batch_size,
               "hidden": args.hidden, "layers": args.layers, "repeats": args.repeats, "pairs_in_data": n_pairs,
               "init_loss_all_pairs": init, **summarize(runs, args.steps * args.batch_size, "pairs")}
    for name, job in summary["jobs"].items():  # the compute done (padding included) per second
        job["padded_tokens"] = job["runs"][0]["padded_tokens"]
        job["padded_tokens_per_s"] = spread([r["padded_tokens"] / r["train_seconds"] for r in runs[name]])
    print_table(summary, "pairs")
    print_work(summary)
    print_init_check(init)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
