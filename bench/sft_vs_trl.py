"""SFT speed and memory: Kaizen vs TRL's SFTTrainer, same model, same data, same steps, one run.

    .venv/bin/python bench/sft_vs_trl.py --steps 60 --batch_size 16 [--hidden 192 --layers 4]

Both jobs fine-tune the same random Llama on the same demo-world demonstrations with the loss on
assistant tokens only (TRL: conversational prompt-completion, completion-only loss), AdamW, the
same learning rate, batch size and number of optimizer steps, fp32 on the CPU (bf16 where a GPU
has it). Each job runs in its own process, end to end as a user runs it (load, tokenize,
train, save); we report wall time, training tokens per second and peak resident memory, and
the Kaizen / TRL ratios. Nothing is downloaded: model and data are made locally.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from jobs import run_job  # bench/jobs.py: scripts run from bench/ have it on sys.path

KAIZEN_JOB = """
import json, resource, sys, time
import torch
t0 = time.perf_counter()
from kaizen.sft import SFTConfig, run
run(SFTConfig(model=sys.argv[1], data=[sys.argv[2]], eval_data=None, out=sys.argv[3], batch_size=int(sys.argv[4]),
              max_steps=int(sys.argv[5]), lr=1e-4, warmup_steps=0, save_every=0, log_every=1, max_length=512,
              # the same precision as the TRL job (Kaizen's `auto` would pick bf16 on a bf16-capable CPU)
              precision="bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"))
times = [json.loads(l)["time"] for l in open(sys.argv[3] + "/metrics.jsonl")]
steps = int(sys.argv[5])
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "train_seconds": (times[-1] - times[0]) * steps / max(steps - 1, 1),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TRL_JOB = """
import json, resource, sys, time
t0 = time.perf_counter()
import torch
from datasets import Dataset
from trl import SFTConfig, SFTTrainer
rows = [json.loads(l) for l in open(sys.argv[2])]
data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
args = SFTConfig(output_dir=sys.argv[3], per_device_train_batch_size=int(sys.argv[4]), max_steps=int(sys.argv[5]),
                 learning_rate=1e-4, lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1,
                 save_strategy="no", report_to=[], max_length=512, completion_only_loss=True,
                 dataloader_num_workers=0, disable_tqdm=True, gradient_checkpointing=False,
                 bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(), use_cpu=not torch.cuda.is_available())
trainer = SFTTrainer(model=sys.argv[1], args=args, train_dataset=data)
train = trainer.train()
trainer.save_model(sys.argv[3] + "/model")
print(json.dumps({"seconds": time.perf_counter() - t0, "train_seconds": train.metrics["train_runtime"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_inputs(root: Path, hidden: int, layers: int) -> tuple[Path, Path, int]:
    """A demo world's single-turn demonstrations and a random Llama with a tokenizer trained on the corpus."""
    from transformers import AutoModelForCausalLM

    from kaizen.data.jsonl import read_jsonl, write_jsonl
    from kaizen.models.architectures import ModelSize, build_config
    from kaizen.models.loading import save_pretrained
    from kaizen.models.tokenizer import train_bpe_tokenizer
    from kaizen.world import WorldConfig, build_world

    world = build_world(WorldConfig(out=str(root / "world"), corpus_docs=2000))
    texts = [row["text"] for _, row in read_jsonl(world / "corpus_train.jsonl")]
    tok = train_bpe_tokenizer(texts, vocab_size=2048)
    cfg = build_config("llama", ModelSize(hidden, layers, 4, max_positions=512), len(tok), tok.bos_token_id,
                       tok.eos_token_id, tok.pad_token_id)
    model_dir = save_pretrained(AutoModelForCausalLM.from_config(cfg), tok, root / "model")
    # Single-turn rows only, so both trainers see exactly the same (prompt, answer) pairs.
    rows = [row for _, row in read_jsonl(world / "sft_train.jsonl") if len(row["messages"]) == 2]
    data = root / "sft.jsonl"
    write_jsonl(data, [{"messages": r["messages"]} for r in rows])
    n_tokens = sum(len(tok(tok.apply_chat_template(r["messages"], tokenize=False))["input_ids"]) for r in rows)
    return model_dir, data, n_tokens // len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--out", default=None, help="Write the results JSON here too.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, data, mean_tokens = build_inputs(root, args.hidden, args.layers)
        tokens = mean_tokens * args.batch_size * args.steps
        results = {}
        for name, code in (("kaizen", KAIZEN_JOB), ("trl", TRL_JOB)):
            r = run_job(code, model, data, root / name, args.batch_size, args.steps)
            r["train_tokens_per_s"] = tokens / r["train_seconds"]
            results[name] = r
    k, t = results["kaizen"], results["trl"]
    summary = {"steps": args.steps, "batch_size": args.batch_size, "hidden": args.hidden, "layers": args.layers,
               **results, "speedup_kaizen_over_trl": t["seconds"] / k["seconds"],
               "train_speedup_kaizen_over_trl": t["train_seconds"] / k["train_seconds"],
               "memory_ratio_kaizen_over_trl": k["peak_rss_mb"] / t["peak_rss_mb"]}
    print("| job | end-to-end s | training s | training tokens/s | peak RSS MB |\n|---|---|---|---|---|")
    for name in ("kaizen", "trl"):
        r = results[name]
        print(f"| {name} | {r['seconds']:.1f} | {r['train_seconds']:.1f} | {r['train_tokens_per_s']:.0f} | "
              f"{r['peak_rss_mb']:.0f} |")
    print(f"\nKaizen / TRL: {summary['train_speedup_kaizen_over_trl']:.2f}x training speed, "
          f"{summary['speedup_kaizen_over_trl']:.2f}x end-to-end speed (imports, tokenising, saving included), "
          f"{summary['memory_ratio_kaizen_over_trl']:.2f}x peak memory.")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
