"""Plots: smoothing by hand, which panels and series each figure shows, and that every figure is
written as a real PNG (the figures themselves are looked at by people, not asserted pixel by pixel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaizen.plot import (bar_chart, curated_panels, ema, gold_vs_proxy_figure, is_flat, metric_series,
                         plot_demo_summary, plot_eval_report, plot_run, run_stage, sheet_keys, smoothing_weight)

PNG = b"\x89PNG\r\n\x1a\n"


def write_run(path: Path, stage: str, rows: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "run_info.json").write_text(json.dumps({"stage": stage}))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def ppo_rows(n: int = 20, ptx: float = 0.0) -> list[dict]:
    return [{"step": i, "time": 1.0 + i, "ppo/reward": 0.1 * i, "ppo/rm_score": 0.1 * i + 0.05, "ppo/kl": 0.02 * i,
             "ppo/kl_coef": 0.3, "ppo/response_length": 12 - 0.1 * i, "ppo/policy_loss": -0.01 * (i % 3),
             "ppo/value_loss": 1 / i, "ppo/clip_fraction": 0.1 + 0.01 * (i % 4), "ppo/value_clip_fraction": 0.02 * (i % 2),
             "ppo/ptx_loss": ptx * (2 - 0.01 * i), "ppo/advantage_mean": 1e-9 * (-1) ** i} for i in range(1, n + 1)]


def is_png(path: Path) -> bool:
    return path.exists() and path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_ema_is_debiased_against_hand_values():
    # w = 0.5: s1 = 1; s2 = (0.25 + 1) / 0.75; s3 = (0.625 + 1.5) / 0.875
    assert ema([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    assert ema([4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0])  # a constant stays put from the first point
    assert smoothing_weight(8) == 0.0 and smoothing_weight(20) == 0.5 and 0.85 < smoothing_weight(300) < 0.95


def test_flat_series_are_named_and_left_off_the_sheet():
    assert is_flat([0.3, 0.3, 0.3]) == "constant" and is_flat([1e-9, -1e-9]) == "near zero"
    assert is_flat([0.3]) is None and is_flat([0.1, 0.2]) is None
    keys, skipped = sheet_keys(metric_series(ppo_rows()))
    assert skipped == {"ppo/kl_coef": "constant", "ppo/advantage_mean": "near zero", "ppo/ptx_loss": "near zero"}
    assert "ppo/reward" in keys and "time" not in keys and "step" not in keys


def test_metric_series_keeps_numbers_only():
    series = metric_series([{"step": 1, "a": 1.0, "b": "x", "c": float("nan"), "d": True}, {"step": 2, "a": 2}])
    assert series == {"a": ([1, 2], [1.0, 2.0])}


def test_ppo_figure_shows_reward_kl_length_losses_and_clipping(tmp_path):
    series = metric_series(ppo_rows())
    titles = [p.title for p, _ in curated_panels("ppo", series)]
    assert titles == ["Reward", "KL to the reference", "Response length", "Policy loss", "Value loss", "Clip fraction"]
    with_ptx = [p.title for p, _ in curated_panels("ppo", metric_series(ppo_rows(ptx=0.1)))]
    assert with_ptx[-1] == "Pretraining mix (ptx)"  # only PPO-ptx has something to show there
    run = write_run(tmp_path / "ppo_ptx", "ppo", ppo_rows(ptx=0.1))
    written = plot_run(run)
    assert [p.name for p in written] == ["ppo.png", "all_metrics.png"] and all(map(is_png, written))


@pytest.mark.parametrize("stage,keys", [
    ("sft", {"train/loss", "eval/loss", "eval/perplexity", "train/lr"}),
    ("rm", {"train/loss", "train/accuracy", "eval/pairwise_accuracy", "eval/loss"}),
    ("dpo", {"train/loss", "train/rewards/margins", "train/rewards/accuracies"}),
])
def test_each_stage_figure_shows_train_and_held_out_series(tmp_path, stage, keys):
    rows = [{"step": i, **{k: 1.0 / i + (0.01 * i if k.startswith("eval") else 0) for k in keys if k.startswith("train")}}
            for i in range(1, 41)]
    rows += [{"step": i, **{k: 2.0 / i for k in keys if k.startswith("eval")}} for i in (10, 20, 40)]
    shown = {ln.key for _, lines in curated_panels(stage, metric_series(rows)) for ln in lines}
    assert keys <= shown
    assert all(ln.held_out == ln.key.startswith("eval/") for _, lines in curated_panels(stage, metric_series(rows))
               for ln in lines)
    written = plot_run(write_run(tmp_path / stage, stage, rows))
    assert [p.name for p in written] == [f"{stage}.png", "all_metrics.png"] and all(map(is_png, written))


def test_stage_is_guessed_from_metric_names_without_run_info(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    assert run_stage(run, {"ppo/kl": None}) == "ppo"
    assert run_stage(run, {"train/rewards/margins": None}) == "dpo"
    assert run_stage(run, {"train/accuracy": None, "train/loss": None}) == "rm"
    assert run_stage(run, {"train/loss": None}) == "sft"


def test_a_killed_runs_cut_line_does_not_stop_plotting(tmp_path):
    run = write_run(tmp_path / "sft", "sft", [{"step": i, "train/loss": 3.0 - 0.1 * i} for i in range(1, 12)])
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 12, "train/lo')
    assert [p.name for p in plot_run(run)] == ["sft.png", "all_metrics.png"]


REPORT = {
    "sft": {"win_rate_vs_sft": 0.5, "ci95": [0.5, 0.5], "gold_score": 5.57, "truthful_rate": 0.55,
            "harmful_compliance": 0.0, "over_refusal": 0.028, "kl_to_sft": 0.0, "mean_length": 11.9,
            "pretrain_loss": 1.21, "rm_score": 0.1},
    "ppo_ptx": {"win_rate_vs_sft": 0.435, "ci95": [0.39, 0.48], "gold_score": 5.50, "truthful_rate": 0.535,
                "harmful_compliance": 0.0, "over_refusal": 0.028, "kl_to_sft": 1.99, "mean_length": 10.7,
                "pretrain_loss": 0.81, "rm_score": 0.4},
    "pretrained": {"win_rate_vs_sft": 0.532, "ci95": [0.48, 0.59], "gold_score": 5.09, "truthful_rate": 0.52,
                   "harmful_compliance": 1.0, "over_refusal": 0.0, "kl_to_sft": None, "mean_length": 11.5,
                   "pretrain_loss": 0.70, "rm_score": None},
}


def test_bar_chart_draws_one_bar_per_model_with_ci_whiskers(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.container import BarContainer, ErrorbarContainer

    fig, ax = plt.subplots()
    bar_chart({n: r["win_rate_vs_sft"] for n, r in REPORT.items()}, ax=ax, ci={n: r["ci95"] for n, r in REPORT.items()},
              reference=0.5, reference_label="tie")
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    assert [b.get_height() for b in bars] == [0.5, 0.435, 0.532]
    (whiskers,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = whiskers.lines[2][0].get_segments()
    assert [tuple(round(y, 3) for y in (s[0][1], s[1][1])) for s in segments] == [(0.5, 0.5), (0.39, 0.48), (0.48, 0.59)]
    plt.close(fig)
    path = bar_chart({"a": 1.0, "b": None}, tmp_path / "bars.png", title="t", ylabel="y")
    assert is_png(path)
    with pytest.raises(ValueError):
        bar_chart({}, tmp_path / "none.png")


def test_eval_report_figures_and_gold_vs_proxy_joins_no_models(tmp_path):
    written = plot_eval_report(REPORT, tmp_path)
    assert [p.name for p in written] == ["win_rate.png", "metrics.png", "gold_vs_proxy.png"]
    assert all(map(is_png, written))
    fig = gold_vs_proxy_figure(REPORT)
    ax = fig.axes[0]
    assert len(ax.collections) == 2  # one point per model with an RM score
    assert all(len(line.get_xdata()) <= 1 for line in ax.lines)  # no line from one model to the next
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert gold_vs_proxy_figure({"sft": {"gold_score": 5.0}}) is None


def test_demo_summary_with_and_without_rounds(tmp_path):
    results = {**REPORT, "rm_accuracy": 0.608, "timings_s": {"sft": 10.0}}
    assert is_png(plot_demo_summary(results, tmp_path / "summary.png"))
    rounds = [{"round": 0, "win_rate_vs_sft": 0.45, "ci95": [0.4, 0.5]}, {"round": 1, "win_rate_vs_sft": 0.52,
                                                                          "ci95": [0.47, 0.57]}]
    assert is_png(plot_demo_summary({**results, "rounds": rounds}, tmp_path / "rounds.png"))
    assert plot_demo_summary({"timings_s": {}}, tmp_path / "empty.png") is None
