"""`kaizen estimate sft` against the measured peak memory of `kaizen sft`, at several model sizes.

    .venv/bin/python bench/memory_estimate.py --out bench/results/memory_estimate_cpu.json

For each size a random Llama is made locally, SFT runs 2 steps on conversations long enough to
fill ``max_length`` (the estimate's worst case) in its own process, and its peak resident memory
(ru_maxrss) is compared with the estimate's total. fp32 on the CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = [(128, 2, 4), (256, 4, 4), (512, 6, 8)]  # hidden, layers, heads
RUN_AND_MEASURE = ("import resource, sys; from kaizen.cli import main; rc = main(sys.argv[1:]); "
                   "print('PEAK_RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024); sys.exit(rc)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--max_length", type=int, default=256)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM

    from kaizen.data.jsonl import write_jsonl
    from kaizen.models.architectures import ModelSize, build_config
    from kaizen.models.loading import save_pretrained
    from kaizen.models.tokenizer import train_bpe_tokenizer

    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(2, 7))) for _ in range(3000)]
    text = lambda n: " ".join(rng.choice(words) for _ in range(n))  # noqa: E731
    root = Path(tempfile.mkdtemp())
    tok = train_bpe_tokenizer([text(20) for _ in range(5000)], vocab_size=2048)
    write_jsonl(root / "sft.jsonl", [{"messages": [{"role": "user", "content": text(10)},
                                                   {"role": "assistant", "content": text(400)}]} for _ in range(64)])
    rows = []
    for hidden, layers, heads in SIZES:
        model_dir = root / f"h{hidden}"
        cfg = build_config("llama", ModelSize(hidden, layers, heads, max_positions=1024), len(tok), tok.bos_token_id,
                           tok.eos_token_id, tok.pad_token_id)
        save_pretrained(AutoModelForCausalLM.from_config(cfg), tok, model_dir)
        flags = ["--model", str(model_dir), "--data", str(root / "sft.jsonl"), "--batch_size", str(args.batch_size),
                 "--max_length", str(args.max_length), "--precision", "fp32"]
        est = json.loads(subprocess.run([sys.executable, "-m", "kaizen", "estimate", "sft", *flags, "--json"],
                                        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        run = subprocess.run([sys.executable, "-c", RUN_AND_MEASURE, "sft", *flags, "--max_steps", "2", "--out",
                              str(root / f"run{hidden}"), "--save_every", "0", "--eval_every", "0"],
                             capture_output=True, text=True, check=True)
        peak = int(next(line.split()[1] for line in run.stdout.splitlines() if line.startswith("PEAK_RSS")))
        rows.append({"hidden": hidden, "layers": layers, "params": est["params"], "estimate_bytes": est["total"],
                     "measured_peak_bytes": peak, "ratio": est["total"] / peak, "parts": est["parts"]})
        print(f"h{hidden} L{layers}: {est['params'] / 1e6:.1f}M params, estimate {est['total'] / 2**20:.0f} MiB, "
              f"measured {peak / 2**20:.0f} MiB, ratio {est['total'] / peak:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"batch_size": args.batch_size, "max_length": args.max_length,
                                              "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
