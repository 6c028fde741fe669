"""SFT speed and memory: Kaizen vs TRL's SFTTrainer, same model, same data, same steps and batch.

    .venv/bin/python bench/sft_vs_trl.py --steps 40 --batch_size 16 --repeats 3 --out bench/results/sft_vs_trl_cpu.json

All jobs fine-tune the same random Llama on the same demo-world demonstrations with the loss on
assistant tokens only (TRL: conversational prompt-completion, completion-only loss), AdamW, the
same learning rate, cosine schedule without warm-up, batch size and number of optimizer steps,
fp32 on the CPU (bf16 where a GPU has it). Each job runs in its own process, end to end as a
user runs it (load, tokenize, train, save). Three jobs, interleaved (kaizen, trl_best,
trl_default, kaizen, ...) ``--repeats`` times, since the machine is shared:

- ``kaizen``: its defaults.
- ``trl_best``: TRL at its best CPU setting for this job: length-grouped batches
  (``train_sampling_strategy="group_by_length"``, transformers 5's name for ``group_by_length``;
  the sampler reads each row's ``input_ids`` length) and no gradient checkpointing. Not used:
  ``padding_free`` needs FlashAttention 2/3 (CUDA only, not on a CPU), and ``packing`` concatenates
  conversations into fixed-length blocks, which changes what a step trains on (rows per step,
  and with ``bfd`` truncation, tokens), so it is not the same job.
- ``trl_default``: TRL's defaults for context (random order, ``gradient_checkpointing=True``).
  Result files before this change had a single ``trl`` row: random order, checkpointing off.

Reported per job: training seconds (per-step end timestamps, the same way for every job),
training tokens/s and peak RSS as median and min-max over the repeats, end-to-end seconds, the
Kaizen / TRL ratios of the medians. Nothing is downloaded: model and data are made locally.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

# bench/jobs.py: scripts run from bench/ have it on sys.path
from jobs import RESULTS, build_world_and_model, environment, print_table, run_interleaved, summarize

KAIZEN_JOB = """
import json, sys, time
import torch
t0 = time.perf_counter()
from kaizen.sft import SFTConfig, run
run(SFTConfig(model=sys.argv[1], data=[sys.argv[2]], eval_data=None, out=sys.argv[3], batch_size=int(sys.argv[4]),
              max_steps=int(sys.argv[5]), lr=1e-4, warmup_steps=0, save_every=0, log_every=1, max_length=512,
              # the same precision as the TRL job (Kaizen's `auto` would pick bf16 on a bf16-capable CPU)
              precision="bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"))
rows = [json.loads(l) for l in open(sys.argv[3] + "/metrics.jsonl") if "train/loss" in l]
steps = int(sys.argv[5])
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "train_seconds": (rows[-1]["time"] - rows[0]["time"]) * steps / max(steps - 1, 1),
                  "first_losses": [r["train/loss"] for r in rows[:2]], "peak_rss_mb": peak_rss_mb()}))
"""

TRL_JOB = """
import json, sys, time
t0 = time.perf_counter()
import torch
from datasets import Dataset
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer
steps, stamps = int(sys.argv[5]), []

class StepTimes(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        stamps.append(time.time())

best = dict(gradient_checkpointing=False, train_sampling_strategy="group_by_length")
rows = [json.loads(l) for l in open(sys.argv[2])]
data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
args = SFTConfig(output_dir=sys.argv[3], per_device_train_batch_size=int(sys.argv[4]), max_steps=steps,
                 learning_rate=1e-4, lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1,
                 save_strategy="no", report_to=[], max_length=512, completion_only_loss=True,
                 dataloader_num_workers=0, disable_tqdm=True,
                 bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(), use_cpu=not torch.cuda.is_available(),
                 **(best if BEST else {}))
trainer = SFTTrainer(model=sys.argv[1], args=args, train_dataset=data, callbacks=[StepTimes()])
train = trainer.train()
trainer.save_model(sys.argv[3] + "/model")
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "train_seconds": (stamps[-1] - stamps[0]) * steps / max(steps - 1, 1),
                  "trainer_train_runtime": train.metrics["train_runtime"], "first_losses": losses[:2],
                  "peak_rss_mb": peak_rss_mb()}))
"""

JOBS = {"kaizen": KAIZEN_JOB, "trl_best": "BEST = True\n" + TRL_JOB, "trl_default": "BEST = False\n" + TRL_JOB}


def build_inputs(root: Path, hidden: int, layers: int) -> tuple[Path, Path, int]:
    """The demo world's single-turn demonstrations, the random Llama, and the mean tokens per row."""
    from kaizen.data.jsonl import read_jsonl, write_jsonl

    world, model_dir, tok = build_world_and_model(root, hidden, layers)
    # Single-turn rows only, so both trainers see exactly the same (prompt, answer) pairs.
    rows = [row for _, row in read_jsonl(world / "sft_train.jsonl") if len(row["messages"]) == 2]
    data = root / "sft.jsonl"
    write_jsonl(data, [{"messages": r["messages"]} for r in rows])
    n_tokens = sum(len(tok(tok.apply_chat_template(r["messages"], tokenize=False))["input_ids"]) for r in rows)
    return model_dir, data, n_tokens // len(rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="Rounds of the three jobs, interleaved.")
    parser.add_argument("--out", default=None, help=f"Write the summary JSON here (e.g. {RESULTS}/sft_vs_trl_cpu.json).")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, data, mean_tokens = build_inputs(root, args.hidden, args.layers)
        runs = run_interleaved(JOBS, args.repeats, model, data, root, args.batch_size, args.steps)
    # tokens/s from the data's mean row length: an estimate of the tokens a run's batches hold
    tokens = mean_tokens * args.batch_size * args.steps
    summary = {"benchmark": "sft_vs_trl", **environment(), "load_average_start": load_start,
               "load_average_end": os.getloadavg(), "steps": args.steps, "batch_size": args.batch_size,
               "hidden": args.hidden, "layers": args.layers, "repeats": args.repeats, "mean_tokens_per_row": mean_tokens,
               **summarize(runs, tokens, "train_tokens")}
    print_table(summary, "train_tokens")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
