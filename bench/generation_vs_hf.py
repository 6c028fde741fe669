"""Greedy rollout generation: Kaizen's decode loop vs transformers' ``model.generate``, same outputs required.

    .venv/bin/python bench/generation_vs_hf.py --prompts 64 --batch_size 16 --max_new_tokens 64 --repeats 3 \
        --out bench/results/generation_vs_hf_cpu.json

Same random Llama and tokenizer as bench/sft_vs_trl.py (``build_inputs``), the demo world's
training prompts rendered with the chat template, the same batch size, the same stop tokens
(EOS and end-of-turn) and ``max_new_tokens``, fp32 on the CPU with ``--threads`` threads. Each
side runs in its own process (bench/jobs.py), the sides interleaved over ``--repeats`` rounds;
reported are the median (min-max) wall and CPU seconds of the generation calls (CPU time is the
steadier figure on a shared machine), generated tokens/s and peak RSS, and the fraction of sequences whose token ids are identical to Kaizen's. A side that
produced other tokens is listed as such and gets no speed ratio: a faster run of a different
computation proves nothing. HF runs twice: its default dynamic cache, and
``cache_implementation="static"`` (a preallocated cache) if that runs here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from jobs import machine, run_job  # bench/jobs.py: scripts run from bench/ have it on sys.path
from sft_vs_trl import build_inputs

# Both jobs read argv: model, spec JSON (rendered prompts, threads, batch size), out file, batch, max_new_tokens.
# Each writes the response token ids (cut after the first stop token) to the out file, and timings to stdout.
KAIZEN_JOB = """
import json, resource, sys, time
spec = json.load(open(sys.argv[2]))
import torch
torch.set_num_threads(spec["threads"])
from kaizen.generation import SamplingParams, generate
from kaizen.models.loading import load_causal_lm, load_tokenizer
model, tok = load_causal_lm(sys.argv[1]).eval(), load_tokenizer(sys.argv[1])
params = SamplingParams(max_new_tokens=int(sys.argv[5]), greedy=True)
generate(model, tok, spec["prompts"][:2], SamplingParams(max_new_tokens=2, greedy=True), batch_size=2)  # warm-up
t0, c0 = time.perf_counter(), time.process_time()
gens = generate(model, tok, spec["prompts"], params, batch_size=int(sys.argv[4]))
seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
json.dump([g.response_ids for g in gens], open(sys.argv[3], "w"))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak_rss_mb()}))
"""

HF_JOB = """
import json, resource, sys, time
spec = json.load(open(sys.argv[2]))
import torch
torch.set_num_threads(spec["threads"])
from transformers import AutoModelForCausalLM, AutoTokenizer
from kaizen.data.chat import stop_token_ids
model, tok = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(sys.argv[1])
tok.padding_side = "left"
stops, batch, max_new = stop_token_ids(tok), int(sys.argv[4]), int(sys.argv[5])
extra = {"cache_implementation": spec["cache"]} if spec["cache"] else {}

def run(prompts, max_new_tokens):
    out = []
    for s in range(0, len(prompts), batch):
        enc = tok(prompts[s:s + batch], add_special_tokens=False, padding=True, return_tensors="pt")
        with torch.inference_mode():
            seqs = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                                  pad_token_id=tok.pad_token_id, **extra)
        for row in seqs[:, enc["input_ids"].shape[1]:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            tok.decode(row[:cut], skip_special_tokens=True)  # Kaizen's side decodes its answers too
            out.append(row[:cut])
    return out

run(spec["prompts"][:2], 2)  # warm-up
t0, c0 = time.perf_counter(), time.process_time()
responses = run(spec["prompts"], max_new)
seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
json.dump(responses, open(sys.argv[3], "w"))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak_rss_mb()}))
"""

SIDES = {"kaizen": (KAIZEN_JOB, None), "hf": (HF_JOB, None), "hf_static_cache": (HF_JOB, "static")}


def render_prompts(world: Path, model: Path, n: int) -> list[str]:
    from kaizen.data.formats import load_records
    from kaizen.generation import chat_prompt
    from kaizen.models.loading import load_tokenizer

    tok = load_tokenizer(str(model))
    return [chat_prompt(tok, conv) for conv in load_records(str(world / "prompts_train.jsonl"), "prompt")[:n]]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--out", default=None, help="Write the summary JSON here too.")
    args = parser.parse_args(argv)
    import torch
    import transformers

    load_start = os.getloadavg()
    runs: dict[str, list[dict]] = {name: [] for name in SIDES}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, _, _ = build_inputs(root, args.hidden, args.layers)
        prompts = render_prompts(root / "world", model, args.prompts)
        responses: dict[str, list[list[int]]] = {}
        for _ in range(args.repeats):
            for name, (code, cache) in SIDES.items():
                if name in failures:
                    continue
                spec = root / f"{name}.json"
                spec.write_text(json.dumps({"prompts": prompts, "threads": args.threads, "cache": cache}))
                try:
                    r = run_job(code, model, spec, root / f"{name}_out.json", args.batch_size, args.max_new_tokens)
                except RuntimeError as err:  # HF's static cache may not run on this CPU / version: report it
                    failures[name] = str(err).strip().splitlines()[-1]
                    continue
                responses[name] = json.loads((root / f"{name}_out.json").read_text())
                runs[name].append(r)
    reference = responses["kaizen"]
    tokens = sum(len(r) for r in reference)
    results = {}
    for name, rs in runs.items():
        if name in failures:
            results[name] = {"failed": failures[name]}
            continue
        same = sum(a == b for a, b in zip(responses[name], reference)) / len(reference)
        seconds = [r["seconds"] for r in rs]
        results[name] = {"seconds": spread(seconds), "tokens_per_s": spread([tokens / s for s in seconds]),
                         "cpu_seconds": spread([r["cpu_seconds"] for r in rs]),
                         "peak_rss_mb": spread([r["peak_rss_mb"] for r in rs]),
                         "identical_to_kaizen": same, "generated_tokens": sum(len(r) for r in responses[name])}
    k, k_cpu = results["kaizen"]["seconds"]["median"], results["kaizen"]["cpu_seconds"]["median"]
    for name, r in results.items():
        if name != "kaizen" and "seconds" in r:
            # Only a run of the same computation earns a ratio.
            same = r["identical_to_kaizen"] == 1.0
            r["kaizen_speedup"] = r["seconds"]["median"] / k if same else None
            r["kaizen_cpu_speedup"] = r["cpu_seconds"]["median"] / k_cpu if same else None
    summary = {"prompts": len(prompts), "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
               "repeats": args.repeats, "threads": args.threads, "hidden": args.hidden, "layers": args.layers,
               "mean_response_tokens": tokens / len(reference), "machine": machine(),
               "versions": {"torch": torch.__version__, "transformers": transformers.__version__}, "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
               **results}
    print("| job | s (median, min-max) | CPU s | generated tokens/s | peak RSS MB | identical to Kaizen | "
          "Kaizen speedup (wall, CPU) |\n|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if "failed" in r:
            print(f"| {name} | failed: {r['failed']} | | | | | |")
            continue
        s, ratio, cpu_ratio = r["seconds"], r.get("kaizen_speedup"), r.get("kaizen_cpu_speedup")
        speedup = "-" if name == "kaizen" else (f"{ratio:.2f}x, {cpu_ratio:.2f}x" if ratio else "n/a (other tokens)")
        print(f"| {name} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | {r['cpu_seconds']['median']:.2f} | "
              f"{r['tokens_per_s']['median']:.0f} | {r['peak_rss_mb']['median']:.0f} | {r['identical_to_kaizen']:.0%} | "
              f"{speedup} |")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
