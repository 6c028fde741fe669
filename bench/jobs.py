"""What the side-by-side benchmarks share: each side runs in its own Python process, the sides
run interleaved (a, b, c, a, b, c, ...) so load from other jobs on a shared machine hits all of
them alike, and every result file names the machine and the library versions it was measured with."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

# Prepended to every job: its own peak resident memory. Not ``ru_maxrss``: Linux carries that over
# fork and exec (getrusage(2)), so a job would report at least its parent's peak, which here holds
# the world, the tokenizer and often torch and TRL (measured: a bare child of a 600 MB parent
# reports 610 MB by ru_maxrss, 9 MB by VmHWM). VmHWM belongs to the address space exec creates.
PEAK_RSS = """
def peak_rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
"""


def run_job(code: str, model: Path, data: Path, out: Path, batch: int, steps: int, python: str | None = None) -> dict:
    """Run ``code`` (a script reading argv: model, data, out, batch, steps) in a fresh interpreter, so
    neither side's imports, caches or allocator state reach the other; its last stdout line is JSON.
    The job may call ``peak_rss_mb()`` (see ``PEAK_RSS``). ``python``: another interpreter (a peer's own
    venv, bench/setup_trl_ppo.sh); default this one."""
    argv = [str(model), str(data), str(out), str(batch), str(steps)]
    proc = subprocess.run([python or sys.executable, "-c", PEAK_RSS + textwrap.dedent(code), *argv],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_interleaved(jobs: dict[str, str], repeats: int, model: Path, data: Path, root: Path, batch: int,
                    steps: int) -> dict[str, list[dict]]:
    """Each job ``repeats`` times, in rounds (every job once per round), each run in its own process."""
    runs: dict[str, list[dict]] = {name: [] for name in jobs}
    for r in range(repeats):
        for name, code in jobs.items():
            runs[name].append(run_job(code, model, data, root / f"{name}-{r}", batch, steps))
            print(f"  round {r + 1}/{repeats} {name}: {runs[name][-1]['train_seconds']:.1f} s training", flush=True)
    return runs


def spread(values: list[float]) -> dict[str, float]:
    """Median and range: on a shared machine the minimum is the least disturbed run, the median the typical one."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def step_seconds(times: list[float], steps: int) -> float:
    """Training seconds from per-step end timestamps, the same way for every job: the span from the
    first step's end to the last one's covers ``steps - 1`` steps (so neither side's one-time set-up
    before its first step counts), scaled to ``steps``."""
    return (times[-1] - times[0]) * steps / max(steps - 1, 1)


def machine() -> str:
    """The CPU model, as ``lscpu`` names it (else /proc/cpuinfo)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def environment() -> dict:
    import torch
    import transformers
    import trl

    return {"machine": machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                         "transformers": transformers.__version__, "trl": trl.__version__}}


def build_world_and_model(root: Path, hidden: int, layers: int):
    """A demo world and a random Llama with a BPE tokenizer trained on its corpus.

    Returns (world directory, model directory, tokenizer). Nothing is downloaded.
    """
    from transformers import AutoModelForCausalLM

    from kaizen.data.jsonl import read_jsonl
    from kaizen.models.architectures import ModelSize, build_config
    from kaizen.models.loading import save_pretrained
    from kaizen.models.tokenizer import train_bpe_tokenizer
    from kaizen.world import WorldConfig, build_world

    world = build_world(WorldConfig(out=str(root / "world"), corpus_docs=2000))
    tok = train_bpe_tokenizer([row["text"] for _, row in read_jsonl(world / "corpus_train.jsonl")], vocab_size=2048)
    cfg = build_config("llama", ModelSize(hidden, layers, 4, max_positions=512), len(tok), tok.bos_token_id,
                       tok.eos_token_id, tok.pad_token_id)
    model_dir = save_pretrained(AutoModelForCausalLM.from_config(cfg), tok, root / "model")
    return world, model_dir, tok


def summarize(runs: dict[str, list[dict]], work: float, unit: str, ours: str = "kaizen") -> dict:
    """Per job: median and range of training seconds, ``work`` / training seconds (as ``<unit>_per_s``),
    peak RSS and end-to-end seconds, plus the first run's first losses; then ``ours`` / each peer,
    as ratios of the medians, and how far apart the first losses are."""
    rate = f"{unit}_per_s"
    jobs = {}
    for name, rs in runs.items():
        for r in rs:
            r[rate] = work / r["train_seconds"]
        jobs[name] = {"train_seconds": spread([r["train_seconds"] for r in rs]), rate: spread([r[rate] for r in rs]),
                      "peak_rss_mb": spread([r["peak_rss_mb"] for r in rs]),
                      "end_to_end_seconds": spread([r["seconds"] for r in rs]),
                      "first_losses": rs[0]["first_losses"], "runs": rs}
    k = jobs[ours]
    def med(job: dict, key: str) -> float:
        return job[key]["median"]

    ratios = {peer: {f"throughput_{ours}_over_peer": med(k, rate) / med(j, rate),
                     f"peak_rss_{ours}_over_peer": med(k, "peak_rss_mb") / med(j, "peak_rss_mb"),
                     f"end_to_end_speed_{ours}_over_peer": med(j, "end_to_end_seconds") / med(k, "end_to_end_seconds"),
                     "first_loss_difference": abs(k["first_losses"][0] - j["first_losses"][0])}
              for peer, j in jobs.items() if peer != ours}
    return {"jobs": jobs, "ratios": ratios}


def print_table(summary: dict, unit: str, ours: str = "kaizen") -> None:
    """The summary as a markdown table (median (min-max) over the repeats) and the ratio lines."""
    def cell(s: dict, fmt: str) -> str:
        return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"

    print(f"| job | training s | {unit}/s | peak RSS MB | end-to-end s | first losses |\n|---|---|---|---|---|---|")
    for name, j in summary["jobs"].items():
        print(f"| {name} | {cell(j['train_seconds'], '.1f')} | {cell(j[f'{unit}_per_s'], '.1f')} | "
              f"{cell(j['peak_rss_mb'], '.0f')} | {cell(j['end_to_end_seconds'], '.1f')} | "
              f"{', '.join(f'{x:.4f}' for x in j['first_losses'])} |")
    for peer, r in summary["ratios"].items():
        print(f"{ours} / {peer}: {r[f'throughput_{ours}_over_peer']:.2f}x {unit}/s, "
              f"{r[f'peak_rss_{ours}_over_peer']:.2f}x peak RSS, {r[f'end_to_end_speed_{ours}_over_peer']:.2f}x "
              f"end-to-end speed; first losses differ by {r['first_loss_difference']:.4f}")
