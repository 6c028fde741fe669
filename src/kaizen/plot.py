"""PNG figures people can read: one curated figure per training run, every metric on a second
sheet, and bar charts (with 95% CI whiskers) for evaluations.

    kaizen plot runs/sft            # -> runs/sft/plots/sft.png (curated) + plots/all_metrics.png

A run's stage comes from its ``run_info.json`` (or, failing that, from its metric names) and picks
the curated panels: PPO shows reward and RM score, KL with β, response length, policy / value
loss, clip fraction; pretraining and SFT show train against held-out loss and perplexity; the RM
its ranking loss and train / held-out pairwise accuracy; DPO its loss, reward margin and
accuracy. Noisy training series are drawn raw (faint) under an exponential moving average;
held-out series, logged a few times per run, are lines with markers (a lone point is labelled
with its value). ``all_metrics.png`` keeps every logged series but those that never change or
stay near zero (listed at the foot of the sheet).

matplotlib is imported inside the functions, so importing this module (``kaizen plot --help``,
the evaluation code) stays cheap.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaizen.training.metrics import read_metrics

SKIP = {"step", "time"}
EXACT = {"lr", "kl_coef"}  # schedules and controller states: drawn as logged, never smoothed
RAW_ALPHA = 0.25  # the unsmoothed line under the EMA: visible, not loud


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    plt.rcParams.update({"axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
                         "grid.alpha": 0.3, "axes.titleweight": "bold", "axes.titlesize": 11,
                         "legend.fontsize": 8, "legend.frameon": False})
    return plt


# ---- series ----------------------------------------------------------------------------------

def metric_series(rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """``{metric: (steps, values)}`` of every numeric metric in ``metrics.jsonl`` rows (NaN and inf dropped)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key in SKIP or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            xs, ys = out.setdefault(key, ([], []))
            xs.append(row["step"])
            ys.append(float(value))
    return out


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing): ``s_t = w·s_{t-1} + (1-w)·x_t``,
    divided by ``1 - w^t`` so the first points are not pulled towards 0."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def smoothing_weight(n: int) -> float:
    """EMA weight for ``n`` points: a span of n/15 points, at least 3 (w = 0.5); none below 10
    points, where the raw line is all there is to read."""
    if n < 10:
        return 0.0
    return 1 - 2 / (max(3.0, n / 15) + 1)


def is_flat(values: Sequence[float], eps: float = 1e-6) -> str | None:
    """Why a series is not worth a panel ("constant", "near zero"), or None when it is."""
    if len(values) < 2:
        return None
    lo, hi = min(values), max(values)
    if max(abs(lo), abs(hi)) < eps:
        return "near zero"
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        return "constant"
    return None


# ---- curated figures -------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    key: str
    label: str
    held_out: bool = False  # logged rarely: markers, no smoothing
    smooth: bool = True  # False for exact series (a learning-rate schedule): an EMA would only shift them


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    lines: tuple[Line, ...]
    twin: Line | None = None  # drawn on a right-hand axis (β beside the KL)
    twin_ylabel: str = ""
    chance: float | None = None  # a dashed line where a coin flip would be (accuracy panels)


_LOSS = "nats per target token"
_LM_PANELS = (
    Panel("Loss: train vs held-out", _LOSS, (Line("train/loss", "train"), Line("eval/loss", "held-out", True))),
    Panel("Held-out perplexity", "perplexity", (Line("eval/perplexity", "held-out", True),)),
    Panel("Learning rate", "learning rate", (Line("train/lr", "lr", smooth=False),)),
    Panel("Throughput", "tokens / s", (Line("train/tokens_per_s", "tokens / s"),)),
)

CURATED: dict[str, tuple[str, str, tuple[Panel, ...]]] = {
    # stage: (title, x label, panels)
    "pretrain": ("Pretraining (Step 0)", "optimizer step", _LM_PANELS),
    "sft": ("Supervised fine-tuning (Step 1)", "optimizer step", _LM_PANELS),
    "rm": ("Reward model (Step 2)", "optimizer step", (
        Panel("Ranking loss", "nats per prompt", (Line("train/loss", "train"), Line("eval/loss", "held-out", True))),
        Panel("Pairwise accuracy", "fraction of pairs ordered right",
              (Line("train/accuracy", "train"), Line("eval/pairwise_accuracy", "held-out", True)), chance=0.5),
        Panel("Held-out accuracy per criterion", "fraction of pairs",
              (Line("eval/accuracy_helpful", "helpful", True), Line("eval/accuracy_truthful", "truthful", True),
               Line("eval/accuracy_harmless", "harmless", True)), chance=0.5),
        Panel("Reward margin (better - worse)", "reward units",
              (Line("train/margin", "train"), Line("eval/margin", "held-out", True))),
    )),
    "dpo": ("Direct preference optimisation", "optimizer step", (
        Panel("DPO loss", "nats per pair", (Line("train/loss", "train"), Line("eval/loss", "held-out", True))),
        Panel("Reward margin (chosen - rejected)", "β · log-ratio",
              (Line("train/rewards/margins", "train"), Line("eval/rewards/margins", "held-out", True))),
        Panel("Reward accuracy", "fraction of pairs",
              (Line("train/rewards/accuracies", "train"), Line("eval/rewards/accuracies", "held-out", True)),
              chance=0.5),
        Panel("Implicit rewards", "β · log-ratio",
              (Line("train/rewards/chosen", "chosen"), Line("train/rewards/rejected", "rejected"))),
    )),
    "ppo": ("PPO (Step 3)", "PPO iteration", (
        Panel("Reward", "score", (Line("ppo/rm_score", "RM score"),
                                  Line("ppo/reward", "reward (unended answers penalised)"))),
        Panel("KL to the reference", "nats per answer", (Line("ppo/kl", "KL"),),
              twin=Line("ppo/kl_coef", "β (kl_coef)"), twin_ylabel="β"),
        Panel("Response length", "tokens", (Line("ppo/response_length", "mean length"),)),
        Panel("Policy loss", "loss", (Line("ppo/policy_loss", "clipped surrogate"),)),
        Panel("Value loss", "loss", (Line("ppo/value_loss", "value"),)),
        Panel("Clip fraction", "fraction of tokens clipped",
              (Line("ppo/clip_fraction", "policy"), Line("ppo/value_clip_fraction", "value"))),
        Panel("Pretraining mix (ptx)", "γ · NLL", (Line("ppo/ptx_loss", "ptx loss"),)),
    )),
}


def run_stage(run_dir: Path, series: Mapping[str, Any]) -> str | None:
    """The stage that wrote ``run_dir``: ``run_info.json``'s, else guessed from the metric names."""
    info = run_dir / "run_info.json"
    if info.exists():
        try:
            stage = json.loads(info.read_text()).get("stage")
        except (OSError, ValueError):
            stage = None
        if stage in CURATED:
            return stage
    keys = set(series)
    if any(k.startswith("ppo/") for k in keys):
        return "ppo"
    if any(k.startswith("train/rewards/") for k in keys):
        return "dpo"
    if "train/accuracy" in keys:
        return "rm"
    if "train/loss" in keys:
        return "sft"
    return None


def _draw_line(ax, xs, ys, line: Line, color, weight: float | None = None, fmt: str = "{:.4g}") -> None:
    if line.held_out or len(xs) == 1:
        ax.plot(xs, ys, marker="o", markersize=4, color=color, label=line.label)
        if len(xs) == 1:  # a lone point: say its value, or it reads as a stray dot
            ax.annotate(fmt.format(ys[0]), (xs[0], ys[0]), textcoords="offset points", xytext=(6, 6), fontsize=8,
                        color=color)
        return
    w = (smoothing_weight(len(ys)) if line.smooth else 0.0) if weight is None else weight
    if w > 0:
        ax.plot(xs, ys, color=color, alpha=RAW_ALPHA, linewidth=1)
        ax.plot(xs, ema(ys, w), color=color, linewidth=1.8, label=f"{line.label} (EMA)")
    else:
        ax.plot(xs, ys, color=color, linewidth=1.5, marker="." if len(xs) < 30 else None, label=line.label)


def _present(panel: Panel, series: Mapping[str, Any]) -> list[Line]:
    """The panel's lines that were logged and say something (a flat line beside others is kept)."""
    lines = [ln for ln in panel.lines if ln.key in series]
    if lines and all(is_flat(series[ln.key][1]) for ln in lines):
        return []  # e.g. ptx loss of plain PPO, all zeros
    return lines


def _panel(ax, panel: Panel, lines: list[Line], series: Mapping[str, Any], xlabel: str) -> None:
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for color, line in zip(colors, lines):
        xs, ys = series[line.key]
        _draw_line(ax, xs, ys, line, color)
    if panel.chance is not None:
        ax.axhline(panel.chance, color="dimgray", linestyle=":", linewidth=1, label="chance")
    title = panel.title
    if panel.twin is not None and panel.twin.key in series:
        xs, ys = series[panel.twin.key]
        if is_flat(ys):  # a fixed β: one number, not a second axis
            title = f"{panel.title} (β = {ys[0]:.3g}, fixed)"
        else:
            ax2 = ax.twinx()
            ax2.plot(xs, ys, color="tab:gray", linestyle="--", linewidth=1.3, label=panel.twin.label)
            ax2.set_ylabel(panel.twin_ylabel)
            ax2.spines["right"].set_visible(True)
            ax2.grid(False)
            handles = ax.get_legend_handles_labels()
            extra = ax2.get_legend_handles_labels()
            ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="best")
            title = f"{panel.title} and β (adaptive)"
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 5), useOffset=False)  # 2e-3, not 0.00200
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps and iterations are whole numbers
    if ax.get_legend() is None and (len(lines) > 1 or any(not ln.held_out for ln in lines)):
        ax.legend(loc="best")


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    """(rows, columns) with few empty cells: 4 panels as 2 x 2, 5-6 as 2 x 3, 7-8 as 2 x 4."""
    cols = 2 if n == 4 else (min(max_cols, n) if n <= 6 else min(4, n))
    return -(-n // cols), cols


def curated_panels(stage: str, series: Mapping[str, Any]) -> list[tuple[Panel, list[Line]]]:
    """The panels of ``stage``'s figure that have something to show, each with its logged lines."""
    if stage not in CURATED:
        return []
    return [(p, lines) for p in CURATED[stage][2] if (lines := _present(p, series))]


def _save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save with the bounding box fitted to every label (nothing clipped), then free the figure."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_curated(run_dir: str | Path, out_path: str | Path, rows: Sequence[Mapping[str, Any]] | None = None,
                 stage: str | None = None) -> Path | None:
    """The stage's curated figure of ``run_dir``; None when the stage has none or nothing it shows was logged."""
    run_dir = Path(run_dir)
    series = metric_series(read_metrics(run_dir) if rows is None else rows)
    stage = stage or run_stage(run_dir, series)
    shown = curated_panels(stage, series) if stage else []
    if not shown:
        return None
    title, xlabel, _ = CURATED[stage]
    if stage == "ppo" and any(p.title.startswith("Pretraining mix") for p, _ in shown):
        title = "PPO-ptx (Step 3)"
    plt = _plt()
    nrows, ncols = _grid(len(shown))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False, layout="constrained")
    for ax, (panel, lines) in zip(axes.flat, shown):
        _panel(ax, panel, lines, series, xlabel)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    last = max((xs[-1] for xs, _ in series.values()), default=0)
    fig.suptitle(f"{title}: {run_dir.name}  ({last} {xlabel}s)", fontsize=13, fontweight="bold")
    return _save(fig, out_path)


def sheet_keys(series: Mapping[str, tuple[list[float], list[float]]]) -> tuple[list[str], dict[str, str]]:
    """(series drawn on the all-metrics sheet, {series left out: why}): constant and near-zero ones are left out."""
    skipped = {k: why for k, (_, ys) in series.items() if (why := is_flat(ys))}
    return sorted(k for k in series if k not in skipped), skipped


def plot_all_metrics(run_dir: str | Path, out_path: str | Path,
                     rows: Sequence[Mapping[str, Any]] | None = None) -> Path | None:
    """Every logged series of ``run_dir`` in one grid, minus constant and near-zero ones (named at the foot)."""
    run_dir = Path(run_dir)
    series = metric_series(read_metrics(run_dir) if rows is None else rows)
    keys, skipped = sheet_keys(series)
    if not keys:
        return None
    plt = _plt()
    cols = min(4, len(keys))
    nrows = -(-len(keys) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 2.9 * nrows), squeeze=False, layout="constrained")
    for ax, key in zip(axes.flat, keys):
        xs, ys = series[key]
        name = key.rpartition("/")[2]
        _draw_line(ax, xs, ys, Line(key, name, held_out=key.startswith("eval/"), smooth=name not in EXACT), "tab:blue")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(f"{run_dir.name}: all logged metrics", fontsize=12, fontweight="bold")
    if skipped:
        note = "not shown: " + "; ".join(f"{k} ({why}, {series[k][1][0]:.3g})" for k, why in sorted(skipped.items()))
        fig.text(0.01, -0.01, "\n".join(_wrap(note, 40 * cols)), fontsize=7, va="top", color="dimgray")
    return _save(fig, out_path, dpi=100)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width) or [text]


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """``OUT/<stage>.png`` (the curated figure) and ``OUT/all_metrics.png``; OUT defaults to ``run_dir/plots``."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if not rows:
        raise FileNotFoundError(f"{run_dir}/metrics.jsonl has no metrics to plot")
    out_dir = Path(out_dir) if out_dir else run_dir / "plots"
    stage = run_stage(run_dir, metric_series(rows))
    written = [plot_curated(run_dir, out_dir / f"{stage}.png", rows, stage) if stage else None,
               plot_all_metrics(run_dir, out_dir / "all_metrics.png", rows)]
    return [p for p in written if p is not None]


# ---- evaluation figures ----------------------------------------------------------------------

def bar_chart(values: Mapping[str, float | None], path: str | Path | None = None, *,
              ci: Mapping[str, Sequence[float] | None] | None = None, title: str = "", ylabel: str = "",
              reference: float | None = None, reference_label: str | None = None, ax=None,
              value_format: str = "{:.3f}", ylim: tuple[float, float] | None = None,
              colors: Mapping[str, str] | None = None) -> Path | None:
    """One bar per model (``values``: name -> number; None is drawn as "n/a"), with 95% CI whiskers.

    ``ci``: name -> (low, high), absent or None for no whisker. ``reference`` draws a dashed
    horizontal line (e.g. 0.5: a tie with the reference model). Each bar is labelled with its
    value (and CI). Draws into ``ax`` when given (returns None), else saves a figure to ``path``.
    """
    names = list(values)
    if not names:
        raise ValueError("bar_chart: no values to draw")
    own = ax is None
    if own:
        if path is None:
            raise ValueError("bar_chart: give path (or ax)")
        plt = _plt()
        fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.8), 3.8), layout="constrained")
    heights = [values[n] if values[n] is not None else 0.0 for n in names]
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
    fill = [(colors or {}).get(n, palette[i % len(palette)]) for i, n in enumerate(names)]
    xs = list(range(len(names)))
    bars = ax.bar(xs, heights, color=fill, alpha=0.85, width=0.65)
    lo_err, hi_err = [], []
    for n, h in zip(names, heights):
        c = (ci or {}).get(n)
        lo_err.append(max(0.0, h - c[0]) if c else 0.0)
        hi_err.append(max(0.0, c[1] - h) if c else 0.0)
    if any(lo_err) or any(hi_err):
        ax.errorbar(xs, heights, yerr=[lo_err, hi_err], fmt="none", ecolor="black", capsize=5, linewidth=1.2,
                    label="95% CI")
    if reference is not None:
        ax.axhline(reference, color="dimgray", linestyle="--", linewidth=1, label=reference_label)
    tops = [h + e for h, e in zip(heights, hi_err)]
    span = (max(tops + [reference or 0.0, 0.0]) - min(heights + [reference or 0.0, 0.0])) or 1.0
    for x, n, top, bar in zip(xs, names, tops, bars):
        v = values[n]
        c = (ci or {}).get(n)
        text = "n/a" if v is None else value_format.format(v)
        if v is not None and c and (c[1] - c[0]) > 0:
            text += f"\n[{value_format.format(c[0])}, {value_format.format(c[1])}]"
        ax.text(x, top + 0.02 * span, text, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs, names, rotation=20 if max(map(len, names)) > 8 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    elif max(tops + [reference or 0.0]) == 0 and min(heights) == 0:  # all zero (e.g. no harmful answer)
        ax.set_ylim(0, 1)
    else:
        ax.set_ylim(min(0.0, min(heights)), max(tops + [reference or 0.0]) + 0.18 * span)
    if reference_label or any(lo_err) or any(hi_err):
        ax.legend(loc="lower right")
    ax.grid(axis="x", visible=False)
    return _save(fig, path) if own else None


_EVAL_PANELS = (  # key in an evaluation report, panel title, y label, reference line
    ("gold_score", "Gold-judge score", "mean score per answer", None),
    ("truthful_rate", "Truthful and informative", "fraction of answers", None),
    ("harmful_compliance", "Harmful compliance (lower is better)", "fraction of harmful prompts", None),
    ("over_refusal", "Over-refusal (lower is better)", "fraction of benign prompts", None),
    ("kl_to_sft", "KL to SFT", "nats per answer", None),
    ("mean_length", "Answer length", "words", None),
    ("pretrain_loss", "Held-out pretraining loss (alignment tax)", "nats per token", None),
    ("rm_score", "Reward-model score", "reward units", None),
)


def _ci(r: Mapping[str, Any]) -> tuple[float, float] | None:
    c = r.get("ci95")
    return (float(c[0]), float(c[1])) if c else None


def plot_eval_report(report: Mapping[str, Mapping[str, Any]], out_dir: str | Path, reference: str = "sft") -> list[Path]:
    """The figures of one evaluation report (``kaizen eval``'s ``results.json``: model -> metrics).

    ``win_rate.png``: win rate against ``reference`` per model with 95% CI whiskers;
    ``metrics.png``: a bar panel per metric (gold score, truthful, harmful compliance, over-refusal,
    KL, length, alignment tax, RM score) that at least one model has; ``gold_vs_proxy.png``:
    each model as one point, RM score against gold score (no line: the models are not a trajectory).
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    models = {n: r for n, r in report.items() if isinstance(r, Mapping)}
    wins = {n: r.get("win_rate_vs_sft") for n, r in models.items() if r.get("win_rate_vs_sft") is not None}
    if wins:
        written.append(bar_chart(wins, out_dir / "win_rate.png", ci={n: _ci(models[n]) for n in wins},
                                 title=f"Gold-judge win rate against {reference}", ylabel=f"win rate vs {reference}",
                                 reference=0.5, reference_label=f"tie with {reference}", ylim=(0, 1.05)))
    panels = [(k, t, y, ref) for k, t, y, ref in _EVAL_PANELS if any(r.get(k) is not None for r in models.values())]
    if panels:
        plt = _plt()
        nrows, ncols = _grid(len(panels), 4)
        fig, axes = plt.subplots(nrows, ncols, figsize=(max(3.6, 0.9 * len(models) + 1.6) * ncols, 3.4 * nrows),
                                 squeeze=False, layout="constrained")
        for ax, (key, title, ylabel, ref) in zip(axes.flat, panels):
            bar_chart({n: r.get(key) for n, r in models.items()}, ax=ax, title=title, ylabel=ylabel, reference=ref,
                      value_format="{:.2f}" if key in ("mean_length", "kl_to_sft") else "{:.3f}")
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.suptitle(f"Held-out evaluation: {len(models)} models", fontsize=13, fontweight="bold")
        written.append(_save(fig, out_dir / "metrics.png", dpi=100))
    gp = plot_gold_vs_proxy(report, out_dir / "gold_vs_proxy.png")
    if gp is not None:
        written.append(gp)
    return written


def plot_gold_vs_proxy(report: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path | None:
    """Each model as one labelled point: RM score (x) against gold-judge score (y).

    Over-optimisation shows as a model far right (the RM likes it) but not high (the gold judge
    does not). The models are separate runs, so no line joins them. None without RM scores.
    """
    fig = gold_vs_proxy_figure(report)
    return _save(fig, path) if fig is not None else None


def gold_vs_proxy_figure(report: Mapping[str, Mapping[str, Any]]):
    """The figure of ``plot_gold_vs_proxy`` (None without RM scores), unsaved."""
    points = [(float(r["rm_score"]), float(r["gold_score"]), name, r.get("kl_to_sft"))
              for name, r in report.items() if isinstance(r, Mapping) and r.get("rm_score") is not None
              and r.get("gold_score") is not None]
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.4), layout="constrained")
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
    for i, (x, y, name, kl) in enumerate(points):
        ax.scatter([x], [y], s=70, color=palette[i % len(palette)], zorder=3,
                   label=name + (f" (KL {kl:.2f})" if kl is not None else ""))
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(7, 5), fontsize=9)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    pad_x = (max(xs) - min(xs)) * 0.15 or 0.1
    pad_y = (max(ys) - min(ys)) * 0.15 or 0.1
    ax.set_xlim(min(xs) - pad_x, max(xs) + 2 * pad_x)  # room for the labels on the right
    ax.set_ylim(min(ys) - pad_y, max(ys) + 2 * pad_y)
    ax.set_xlabel("reward-model score (proxy, mean per answer)")
    ax.set_ylabel("gold-judge score (mean per answer)")
    ax.set_title("Proxy reward vs gold score, one point per model")
    ax.legend(loc="best", title="KL to SFT in nats", title_fontsize=8)
    return fig


def plot_demo_summary(results: Mapping[str, Any], out_png: str | Path) -> Path | None:
    """The demo in one figure: win rate vs SFT with 95% CI per model, the safety and honesty rates,
    the alignment tax, and, when ``results["rounds"]`` exists, the win rate per round.

    ``results``: the demo's ``results.json`` (model name -> metrics, plus ``rm_accuracy``,
    ``timings_s``...). ``results["rounds"]``, if present: a list of dicts with ``round`` and any
    of ``win_rate_vs_sft`` (with ``ci95``), ``rm_pairwise_accuracy``. None when no model has a
    win rate.
    """
    models = {n: r for n, r in results.items() if isinstance(r, Mapping) and r.get("win_rate_vs_sft") is not None}
    if not models:
        return None
    rounds = [r for r in results.get("rounds") or [] if isinstance(r, Mapping)]
    round_keys = [k for k in ("win_rate_vs_sft", "rm_pairwise_accuracy") if any(r.get(k) is not None for r in rounds)]
    has_rates = any(r.get(k) is not None for r in models.values() for k in ("truthful_rate", "harmful_compliance"))
    has_tax = any(r.get("pretrain_loss") is not None for r in models.values())
    n = 1 + has_rates + has_tax + bool(round_keys)
    plt = _plt()
    width = max(3.6, 0.95 * len(models) + 1.8)
    nrows, ncols = _grid(n)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 4.2 * nrows), squeeze=False, layout="constrained")
    axes = list(axes.flat)
    bar_chart({k: r["win_rate_vs_sft"] for k, r in models.items()}, ax=axes[0], ci={k: _ci(r) for k, r in models.items()},
              title="Win rate vs SFT (gold judge)", ylabel="win rate (ties count 1/2)", reference=0.5,
              reference_label="tie with SFT", ylim=(0, 1.1), value_format="{:.2f}")
    i = 1
    if has_rates:
        _grouped_bars(axes[i], models, [("truthful_rate", "truthful", "tab:green"),
                                        ("harmful_compliance", "harmful compliance", "tab:red"),
                                        ("over_refusal", "over-refusal", "tab:gray")])
        axes[i].set_title("Honest and harmless")
        axes[i].set_ylabel("fraction of prompts")
        i += 1
    if has_tax:
        bar_chart({k: r.get("pretrain_loss") for k, r in models.items()}, ax=axes[i],
                  title="Alignment tax: held-out pretraining loss", ylabel="nats per token (lower is better)")
        i += 1
    if round_keys:
        ax = axes[i]
        labels = [str(r.get("name") or f"round {r.get('round', j)}") for j, r in enumerate(rounds)]
        if "win_rate_vs_sft" in round_keys:
            bar_chart({lab: r.get("win_rate_vs_sft") for lab, r in zip(labels, rounds)}, ax=ax,
                      ci={lab: _ci(r) for lab, r in zip(labels, rounds)}, title="Win rate vs SFT per round",
                      ylabel="win rate", reference=0.5, reference_label="tie with SFT", ylim=(0, 1.1),
                      value_format="{:.2f}")
        else:
            bar_chart({lab: r.get("rm_pairwise_accuracy") for lab, r in zip(labels, rounds)}, ax=ax,
                      title="Reward model held-out accuracy per round", ylabel="pairwise accuracy", reference=0.5,
                      reference_label="chance", ylim=(0, 1.1))
    rm = results.get("rm_accuracy")
    fig.suptitle("Kaizen demo: held-out prompts" + (f"  (reward model pairwise accuracy {rm:.3f})" if rm else ""),
                 fontsize=13, fontweight="bold")
    return _save(fig, out_png)


def _grouped_bars(ax, models: Mapping[str, Mapping[str, Any]], keys: list[tuple[str, str, str]]) -> None:
    keys = [k for k in keys if any(r.get(k[0]) is not None for r in models.values())]
    names = list(models)
    width = 0.8 / max(len(keys), 1)
    for j, (key, label, color) in enumerate(keys):
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(names))]
        vals = [models[n].get(key) or 0.0 for n in names]
        ax.bar(xs, vals, width=width, color=color, alpha=0.85, label=label)
        for x, v in zip(xs, vals):
            ax.text(x, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=20 if max(map(len, names)) > 8 else 0)
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper right", ncols=len(keys))
    ax.grid(axis="x", visible=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kaizen plot", description="Render PNG figures of a run's metrics.jsonl: "
                                     "the stage's curated figure and a sheet of every metric.")
    parser.add_argument("run_dir", nargs="+", help="Run directories (each with metrics.jsonl).")
    parser.add_argument("--out", default=None, help="Output folder (default: RUN_DIR/plots).")
    args = parser.parse_args(argv)
    for run_dir in args.run_dir:
        # several runs into one --out: a subfolder each, or their all_metrics.png would overwrite each other
        out = Path(args.out) / Path(run_dir).name if args.out and len(args.run_dir) > 1 else args.out
        for path in plot_run(run_dir, out):
            print(path)
    return 0
