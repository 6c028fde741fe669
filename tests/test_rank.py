"""`kaizen rank` on a tiny policy and a small demo world: K answers per prompt, valid ranks,
a file that round-trips through the ranking loader and trains the RM."""

from __future__ import annotations

import json

import pytest

from kaizen.config import ConfigError, parse_config
from kaizen.data.formats import load_records
from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import conversation_to_dicts
from kaizen.rank import RankConfig, _pair_agreement, run


def _cfg(policy, world, out, **kw) -> RankConfig:
    base = dict(policy=str(policy), world=str(world), out=str(out), num_prompts=8, k=4, max_new_tokens=10,
                batch_size=12, precision="fp32")
    base.update(kw)
    return RankConfig(**base)


def test_rank_writes_k_ranked_answers_per_prompt(tiny_model_factory, small_world, tmp_path):
    policy = tiny_model_factory("llama")
    path = run(_cfg(policy, small_world, tmp_path / "rank"))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    summary = json.loads((tmp_path / "rank" / "summary.json").read_text())
    assert summary["num_rankings"] == len(rows) and len(rows) + summary["skipped_no_pair"] == 8 and len(rows) >= 6
    # Empty answers (the random policy sometimes stops at once) are the only ones dropped.
    assert sum(len(r["answers"]) for r in rows) + summary["empty_answers_dropped"] <= 4 * 8
    assert summary["num_answers"] == sum(len(r["answers"]) for r in rows)
    for row in rows:
        ranks, answers = row["ranks"], row["answers"]
        k = len(answers)
        assert 2 <= k <= 4 and len(ranks) == k and all(answers)
        # Dense ranks from 1; identical answers tie, distinct ones do not.
        assert sorted(set(ranks)) == list(range(1, len(set(ranks)) + 1)) and len(set(ranks)) > 1
        for i in range(k):
            for j in range(k):
                assert (ranks[i] == ranks[j]) == (answers[i].strip() == answers[j].strip())
        assert row["meta"]["task"] and row["meta"]["policy"] == str(policy) and row["id"] == row["meta"]["prompt_id"]
        assert len(row["judgements"]) == k
    # Labelers take the prompts round-robin.
    assert len(summary["labelers"]) == 3
    assert 0.0 <= summary["labeler_gold_agreement"] <= 1.0 and summary["inter_labeler_agreement"] is not None

    # The file round-trips through the loader the RM uses.
    loaded = load_records(path, "ranking")
    assert [r.to_dict() for r in loaded] == rows

    # Same seed, same file.
    again = run(_cfg(policy, small_world, tmp_path / "again"))
    assert again.read_text() == path.read_text()


def test_prompt_file_keeps_world_prompts_only(tiny_model_factory, small_world, tmp_path):
    from kaizen.world import DemoWorld

    world_prompts = DemoWorld.load(small_world).prompts("heldout")[:3]
    rows = [{"prompt": conversation_to_dicts(p.messages)} for p in world_prompts]
    rows.append({"prompt": "a prompt the world has never seen"})
    write_jsonl(tmp_path / "prompts.jsonl", rows)
    path = run(_cfg(tiny_model_factory("llama"), small_world, tmp_path / "rank", prompts=str(tmp_path / "prompts.jsonl"),
                    num_prompts=0, k=2, batch_size=4))
    summary = json.loads((tmp_path / "rank" / "summary.json").read_text())
    assert summary["unknown_prompts_skipped"] == 1 and summary["num_prompts"] == 3
    assert {r.id for r in load_records(path, "ranking")} <= {p.id for p in world_prompts}


def test_rankings_train_the_reward_model(tiny_model_factory, small_world, tmp_path):
    from kaizen.reward import RewardConfig
    from kaizen.reward import run as run_rm

    policy = tiny_model_factory("gpt2")
    path = run(_cfg(policy, small_world, tmp_path / "rank", num_prompts=10, k=3))
    model = run_rm(RewardConfig(model=str(policy), data=[str(path)], demonstrations=str(small_world / "sft_train.jsonl"),
                                out=str(tmp_path / "rm"), batch_size=4, max_steps=2, lr=1e-3, warmup_steps=0,
                                save_every=0, log_every=1, precision="fp32", eval_fraction=0.2))
    report = json.loads((tmp_path / "rm" / "eval.json").read_text())
    assert (model / "config.json").exists() and report["num_pairs"] > 0


def test_pair_agreement_by_hand():
    gold = [3.0, 1.0, 2.0, 2.0]  # pair (2, 3) has equal gold: not counted
    a = [1, 3, 2, 2]  # agrees with gold on all 5 counted pairs
    b = [1, 2, 3, 3]  # (1, 2) and (1, 3) reversed
    assert _pair_agreement(a, [-g for g in gold], gold) == (5, 5)
    assert _pair_agreement(a, b, gold) == (3, 5)


@pytest.mark.parametrize("bad", [["--k", "1"], ["--k", "10"], ["--temperature", "0"], ["--top_p", "0"]])
def test_config_is_validated(bad):
    with pytest.raises(ConfigError):
        parse_config(RankConfig, bad)
    assert parse_config(RankConfig, ["--k", "9"]).k == 9
