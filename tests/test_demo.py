"""`kaizen demo` wiring end to end, at the smallest sizes (the real demo is `make demo`)."""

from __future__ import annotations

import json

from kaizen.config import parse_config
from kaizen.demo import DemoConfig, run

TINY = [
    "--world.n_entities", "30", "--world.corpus_docs", "60", "--world.corpus_heldout_docs", "10",
    "--world.train_prompts", "40", "--world.heldout_prompts", "36",
    "--pretrain.vocab_size", "400", "--pretrain.hidden_size", "32", "--pretrain.num_layers", "1",
    "--pretrain.num_heads", "2", "--pretrain.block_size", "64", "--pretrain.max_steps", "4",
    "--pretrain.eval_every", "0", "--pretrain.save_every", "0",
    "--sft.max_steps", "3", "--sft.save_every", "0",
    "--rank.num_prompts", "8", "--rank.max_new_tokens", "6",
    "--rm.max_steps", "2", "--rm.bias_samples", "8", "--rm.eval_fraction", "0.25",
    "--ppo.iterations", "1", "--ppo.rollout_batch_size", "4", "--ppo.minibatch_size", "4", "--ppo.ppo_epochs", "1",
    "--ppo.max_new_tokens", "6", "--ppo.ptx_block_size", "32", "--ppo.save_every", "0",
    "--dpo.max_steps", "2", "--eval.num_prompts", "6", "--eval.max_new_tokens", "6", "--eval.pretrain_blocks", "2",
    "--later_rank_prompts", "8", "--later_ppo_iterations", "1", "--sections",
]


def test_demo_writes_results_for_every_model(tmp_path):
    results = run(parse_config(DemoConfig, ["--out", str(tmp_path / "demo"), *TINY]))
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    for name in ("sft", "ppo", "ppo_ptx", "dpo", "pretrained"):
        row = saved[name]
        for key in ("win_rate_vs_sft", "ci95", "truthful_rate", "harmful_compliance", "over_refusal", "kl_to_sft",
                    "mean_length", "pretrain_loss"):
            assert key in row, (name, key)
        for key in ("win_rate_vs_sft_t1", "ci95_t1"):
            assert key in row, (name, key)
    assert 0.0 <= saved["rm_accuracy"] <= 1.0
    for key in ("rm_accuracy_vs_gold", "rm_accuracy_ceiling", "rm_best_of_8_win"):
        assert saved[key] is None or 0.0 <= saved[key] <= 1.0, key
    assert set(saved["rm_accuracy_three_ways_per_criterion"]) == {"helpful", "truthful", "harmless"}
    # Two rounds: round 2 ranked round 1's PPO-ptx answers, its RM saw both rounds' rankings.
    assert [r["round"] for r in saved["rounds"]] == [1, 2]
    assert saved["rounds"][1]["rankings"] > saved["rounds"][0]["rankings"]
    assert saved["rounds"][0]["ppo_ptx"] == saved["ppo_ptx_round1"] and saved["rounds"][1]["ppo_ptx"] == saved["ppo_ptx"]
    assert {"rank_round2", "rm_round2", "ppo_ptx_round2", "eval", "rm_steering"} <= set(saved["timings_s"])
    assert (tmp_path / "demo" / "summary.png").exists()
    assert (tmp_path / "demo" / "eval" / "results.md").exists()
    assert list((tmp_path / "demo" / "ppo_ptx" / "plots").glob("*.png"))
    ppo_rows = [json.loads(line) for line in (tmp_path / "demo" / "ppo" / "metrics.jsonl").read_text().splitlines()]
    assert all("ppo/time_generation_s" in r and "ppo/time_training_s" in r for r in ppo_rows)


def test_demo_until_sft(tmp_path):
    results = run(parse_config(DemoConfig, ["--out", str(tmp_path / "demo"), "--until", "sft", *TINY]))
    assert set(results) == {"sft", "pretrained", "timings_s"}
    assert not (tmp_path / "demo" / "rank").exists()
