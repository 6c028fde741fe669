"""Evaluation, rounds and the CLI end to end on tiny models and a small demo world."""

from __future__ import annotations

import json

from kaizen.cli import main as kaizen
from kaizen.evaluate import EvalConfig, mean_ci95
from kaizen.evaluate import run as evaluate
from kaizen.loop import LoopConfig
from kaizen.loop import run as loop
from kaizen.plot import plot_run
from kaizen.ppo import PPOConfig
from kaizen.rank import RankConfig
from kaizen.reward import RewardConfig


def test_ci95_of_win_rates_by_hand():
    mean, (lo, hi) = mean_ci95([1.0, 0.0, 0.5, 1.0])
    # mean 0.625, sample sd = sqrt(((.375)^2*2 + (.625)^2 + (.125)^2) / 3) = 0.4787, half = 1.96 * 0.4787 / 2
    assert abs(mean - 0.625) < 1e-12
    assert abs(lo - (0.625 - 1.96 * 0.478714 / 2)) < 1e-4 and hi == 1.0  # clipped to [0, 1]
    assert mean_ci95([1.0] * 5) == (1.0, (1.0, 1.0))


def test_eval_reports_every_metric(small_world, tiny_model_factory, tmp_path):
    llama, gpt2 = tiny_model_factory("llama"), tiny_model_factory("gpt2")
    report = evaluate(EvalConfig(world=str(small_world), models=[f"sft={llama}", f"other={gpt2}"],
                                 fewshot=[f"base={llama}"], reward_model=str(llama), out=str(tmp_path / "eval"),
                                 num_prompts=12, max_new_tokens=8, pretrain_blocks=2, num_shots=2))
    assert set(report) == {"sft", "other", "base"}
    for name, row in report.items():
        for key in ("win_rate_vs_sft", "ci95", "truthful_rate", "harmful_compliance", "over_refusal", "kl_to_sft",
                    "mean_length", "pretrain_loss", "rm_score", "gold_score"):
            assert key in row, (name, key)
        assert 0.0 <= row["win_rate_vs_sft"] <= 1.0 and row["pretrain_loss"] > 0
    assert report["sft"]["win_rate_vs_sft"] == 0.5 and abs(report["sft"]["kl_to_sft"]) < 1e-6
    assert report["base"]["kl_to_sft"] is None  # few-shot answers come from another prompt: no KL
    assert (tmp_path / "eval" / "results.md").read_text().startswith("| model")
    assert json.loads((tmp_path / "eval" / "results.json").read_text()) == json.loads(json.dumps(report))


def test_loop_versions_every_round(small_world, tiny_model_factory, tmp_path):
    sft = tiny_model_factory("llama")
    history = loop(LoopConfig(
        rounds=2, sft_model=str(sft), world=str(small_world), prompts_per_round=6, out=str(tmp_path / "loop"),
        ptx_data=[str(small_world / "corpus_train.jsonl")],
        rank=RankConfig(k=3, max_new_tokens=8),
        rm=RewardConfig(max_steps=3, lr=1e-3, batch_size=4, save_every=0, bias_samples=8, eval_fraction=0.2),
        ppo=PPOConfig(iterations=2, rollout_batch_size=4, minibatch_size=4, ppo_epochs=1, max_new_tokens=8,
                      ptx_coef=0.5, ptx_block_size=32, save_every=0)))
    assert [h["round"] for h in history] == [0, 1]
    assert history[1]["policy"] != history[0]["policy"]
    for r in (0, 1):
        d = tmp_path / "loop" / f"round-{r}"
        assert (d / "rank" / "rankings.jsonl").exists() and (d / "rm" / "model").exists() and (d / "ppo" / "model").exists()
    # Round 1's RM was trained on both rounds' rankings.
    cfg = (tmp_path / "loop" / "round-1" / "rm" / "config.yaml").read_text()
    assert "round-0/rank/rankings.jsonl" in cfg and "round-1/rank/rankings.jsonl" in cfg
    assert json.loads((tmp_path / "loop" / "rounds.json").read_text()) == history
    pngs = plot_run(tmp_path / "loop" / "round-1" / "ppo")
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)


def test_cli_help_and_errors(capsys, tmp_path):
    assert kaizen(["--help"]) == 0
    assert "ppo" in capsys.readouterr().out
    assert kaizen(["nonsense"]) == 2
    assert kaizen(["sft", "--lrr", "1"]) == 2
    assert "did you mean '--lr'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    assert kaizen(["sft", "--config", str(bad)]) == 2
    assert "'epochz'" in capsys.readouterr().err
