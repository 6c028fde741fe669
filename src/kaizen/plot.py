"""PNG plots: training curves of any run, and gold vs proxy reward across models.

    kaizen plot runs/sft            # -> runs/sft/plots/*.png, one figure per metric group
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from kaizen.training.metrics import read_metrics  # noqa: E402

SKIP = {"step", "time"}


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """One PNG per metric prefix (``train/``, ``eval/``, ``ppo/``...), a panel per metric."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if not rows:
        raise FileNotFoundError(f"{run_dir}/metrics.jsonl has no metrics to plot")
    out_dir = Path(out_dir) if out_dir else run_dir / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    series: dict[str, dict[str, tuple[list, list]]] = defaultdict(dict)
    for row in rows:
        for key, value in row.items():
            if key in SKIP or not isinstance(value, (int, float)):
                continue
            group, _, name = key.rpartition("/")
            xs, ys = series[group or "metrics"].setdefault(name, ([], []))
            xs.append(row["step"])
            ys.append(value)
    written = []
    for group, metrics in series.items():
        n = len(metrics)
        cols = min(3, n)
        rows_n = -(-n // cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.0 * rows_n), squeeze=False)
        for ax, (name, (xs, ys)) in zip(axes.flat, sorted(metrics.items())):
            ax.plot(xs, ys, marker="." if len(xs) < 30 else None)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.suptitle(f"{run_dir.name}: {group}")
        fig.tight_layout(rect=(0, 0, 1, 0.97))  # leave the top strip to the title
        path = out_dir / f"{group.replace('/', '_')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def plot_gold_vs_proxy(report: dict[str, dict], path: str | Path) -> Path | None:
    """Gold score and RM score of each model against its KL to SFT: over-optimisation shows as a gap."""
    points = [(r["kl_to_sft"], r["gold_score"], r.get("rm_score"), name) for name, r in report.items()
              if r.get("kl_to_sft") is not None]
    if not points:
        return None
    points.sort()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label="gold judge score")
    if all(p[2] is not None for p in points):
        ax2 = ax.twinx()
        ax2.plot([p[0] for p in points], [p[2] for p in points], "s--", color="tab:orange", label="reward model score")
        ax2.set_ylabel("reward model score")
        ax2.legend(loc="lower right")
    for kl, gold, _, name in points:
        ax.annotate(name, (kl, gold), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("KL to SFT (nats per answer)")
    ax.set_ylabel("gold score")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kaizen plot", description="Render PNG curves of a run's metrics.jsonl.")
    parser.add_argument("run_dir", nargs="+", help="Run directories (each with metrics.jsonl).")
    parser.add_argument("--out", default=None, help="Output folder (default: RUN_DIR/plots).")
    args = parser.parse_args(argv)
    for run_dir in args.run_dir:
        for path in plot_run(run_dir, args.out):
            print(path)
    return 0
