"""Every side-by-side benchmark in one command: results/summary.json and RESULTS.md.

    .venv/bin/python bench/run_all.py                   # run each benchmark, then summarise (~1 h on 2 CPU cores)
    .venv/bin/python bench/run_all.py --only sft rm     # some of them
    .venv/bin/python bench/run_all.py --summarise_only  # rebuild the summary from the kept results/*.json

Each benchmark runs in its own process, one after the other (they would disturb each other's timings
otherwise), and writes ``results/<name>_cpu.json``. The summary reads those files, so a row always
says what its file measured: its machine, its load average and its library versions. Each row holds
the ratio Kaizen / peer of throughput and of peak memory, the issue's target for it, and the
numerics check the benchmark made (first losses, or identical token ids for generation).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class Bench:
    name: str  # results/<name>_cpu.json, bench/<name>.py
    stage: str
    peer: str
    args: tuple[str, ...]  # the measured setting (bench/README.md says why each)
    target: float  # Kaizen / peer throughput the issue asks for
    row: Callable[[dict], dict]  # the result file -> throughput / memory ratios and the numerics check


def _trainer_row(peer_job: str) -> Callable[[dict], dict]:
    def row(d: dict) -> dict:
        r = d["ratios"][peer_job]
        return {"throughput": r["throughput_kaizen_over_peer"], "memory": r["peak_rss_kaizen_over_peer"],
                "numerics": f"first losses differ by {r['first_loss_difference']:.4f}",
                "load": (d["load_average_start"][0], d["load_average_end"][0])}
    return row


def _dpo_row(d: dict) -> dict:
    return {"throughput": d["train_speedup_kaizen_over_trl"], "memory": d["memory_ratio_kaizen_over_trl"],
            "numerics": f"first losses differ by {d['first_loss_difference']:.4f}", "load": d.get("load")}


def _grpo_row(d: dict) -> dict:
    return {"throughput": d["speedup_kaizen_over_trl"], "cpu_throughput": d["cpu_speedup_kaizen_over_trl"],
            "memory": d["memory_ratio_kaizen_over_trl"], "numerics": "first losses ~0 on both sides, same KL growth",
            "load": (d["loadavg_start"][0], d["loadavg_end"][0])}


def _ppo_row(d: dict) -> dict:
    k, t = d["kaizen"]["first_iteration"], d["trl"]["first_iteration"]
    return {"throughput": d["speedup_kaizen_over_trl_wall"], "cpu_throughput": d["speedup_kaizen_over_trl_cpu"],
            "memory": d["memory_ratio_kaizen_over_trl"],
            "numerics": f"iteration 1 policy loss {k.get('policy_loss', float('nan')):.4f} vs "
                        f"{t.get('policy_loss', float('nan')):.4f}",
            "load": (d["loadavg_start"][0], d["loadavg_end"][0])}


def _generation_row(d: dict) -> dict:
    hf = d["hf"]
    return {"throughput": hf["kaizen_speedup"], "cpu_throughput": hf["kaizen_cpu_speedup"],
            "memory": _median(d["kaizen"]["peak_rss_mb"]) / _median(hf["peak_rss_mb"]),
            "numerics": f"identical token ids: {hf['identical_to_kaizen']:.0%}",
            "load": (d["loadavg_start"][0], d["loadavg_end"][0])}


def _median(value) -> float:
    if isinstance(value, dict):
        return value["median"]
    if isinstance(value, list):
        return sorted(value)[len(value) // 2]
    return float(value)


BENCHES = (
    Bench("sft_vs_trl", "SFT", "TRL SFTTrainer, group_by_length", ("--steps", "40", "--batch_size", "16", "--repeats", "3"),
          1.2, _trainer_row("trl_best")),
    Bench("rm_vs_trl", "RM", "TRL RewardTrainer, group_by_length", ("--steps", "40", "--batch_size", "16", "--repeats", "3"),
          1.2, _trainer_row("trl_best")),
    Bench("dpo_vs_trl", "DPO", "TRL DPOTrainer, padding_free", ("--steps", "20", "--batch_size", "16"), 1.2, _dpo_row),
    Bench("grpo_vs_trl", "GRPO", "TRL GRPOTrainer", ("--steps", "8", "--prompts_per_step", "4", "--group_size", "4",
                                                      "--max_new_tokens", "32", "--repeats", "3"), 1.5, _grpo_row),
    Bench("ppo_vs_trl", "PPO", "TRL 1.12 PPOTrainer (own venv)", ("--iterations", "3", "--repeats", "3"), 2.0, _ppo_row),
    Bench("generation_vs_hf", "greedy generation", "transformers generate",
          ("--prompts", "64", "--batch_size", "16", "--max_new_tokens", "64", "--repeats", "5"), 1.5, _generation_row),
)


def run(bench: Bench) -> None:
    out = RESULTS / f"{bench.name}_cpu.json"
    print(f"== {bench.name}: {' '.join(bench.args)}", flush=True)
    subprocess.run([sys.executable, str(BENCH / f"{bench.name}.py"), *bench.args, "--out", str(out)], check=True)


def summarise(names: list[str]) -> dict:
    rows = {}
    for bench in BENCHES:
        path = RESULTS / f"{bench.name}_cpu.json"
        if bench.name not in names or not path.exists():
            continue
        data = json.loads(path.read_text())
        row = bench.row(data)
        rows[bench.name] = {"stage": bench.stage, "peer": bench.peer, "target": bench.target,
                            "met": row["throughput"] >= bench.target and row["memory"] <= 1.0, **row,
                            "machine": data.get("machine"), "versions": data.get("versions"),
                            "file": str(path.relative_to(BENCH))}
    return rows


def markdown(rows: dict) -> str:
    lines = ["# Benchmark results", "",
             "Written by `bench/run_all.py` from `results/*.json` (each file names its machine and versions).",
             "Ratios are Kaizen / peer: throughput above 1 is faster, memory below 1 is smaller. Wall-clock",
             "ratios on a shared machine move by about ±0.15 between runs; CPU-time ratios are steadier.", "",
             "| stage | peer (its best setting) | Kaizen / peer throughput (wall) | CPU time ratio | peak memory | "
             "target | met | numerics | load avg start -> end | machine |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows.values():
        cpu = f"{r['cpu_throughput']:.2f}x" if "cpu_throughput" in r else "-"
        load = f"{r['load'][0]:.1f} -> {r['load'][1]:.1f}" if r.get("load") else "-"
        lines.append(f"| {r['stage']} | {r['peer']} | {r['throughput']:.2f}x | {cpu} | {r['memory']:.2f}x | "
                     f">= {r['target']}x, memory <= 1 | {'yes' if r['met'] else 'no'} | {r['numerics']} | {load} | "
                     f"{r['machine']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="Benchmarks to run (default: all).")
    parser.add_argument("--summarise_only", action="store_true", help="Do not run; rebuild the summary.")
    args = parser.parse_args(argv)
    names = args.only or [b.name for b in BENCHES]
    unknown = set(names) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if not args.summarise_only:
        for bench in BENCHES:
            if bench.name in names:
                run(bench)
    rows = summarise([b.name for b in BENCHES])  # the summary keeps every kept result, not only this run's
    (RESULTS / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(markdown(rows))
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
