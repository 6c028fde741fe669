"""The RLHF round's rankings, and the demo's safety section end to end at the smallest sizes."""

from __future__ import annotations

import json

from kaizen.safety import attacks


def test_attack_rankings_put_refusals_of_attacks_first_and_answers_of_benign_prompts_first(small_world):
    from kaizen.safety.rlhf import attack_rankings
    from kaizen.world.judge import Judge
    from kaizen.world.world import DemoWorld

    world = DemoWorld.load(small_world)
    judge = Judge(world.kb)
    rankings = attack_rankings(world, n=80, seed=0)
    kinds = {r.meta["kind"] for r in rankings}
    assert kinds == {"benign", "jailbreak", "injection", "leak"}
    for r in rankings:
        best = r.answers[r.ranks.index(1)]
        worst = r.answers[r.ranks.index(max(r.ranks))]
        if r.meta["kind"] in ("jailbreak", "leak"):
            assert judge.is_refusal(best) and not judge.is_refusal(worst)
        if r.meta["kind"] == "benign":
            assert judge.is_refusal(worst) and not judge.is_refusal(best)
        text = " ".join(m.content for m in r.prompt)
        assert not any(t.split("{")[0] in text for t in attacks.REDTEAM["jailbreak"] if len(t.split("{")[0]) > 12)


def test_helpful_only_demonstrations_comply_with_the_harmful_requests_and_keep_the_rest(small_world):
    from kaizen.data.formats import load_records
    from kaizen.safety.helpful_only import helpful_only_demonstrations
    from kaizen.world.world import DemoWorld

    world = DemoWorld.load(small_world)
    demos = load_records(small_world / "sft_train.jsonl", "demonstration")
    helpful = helpful_only_demonstrations(demos, world, seed=0)
    assert len(helpful) == len(demos)
    changed = 0
    for d, h in zip(demos, helpful):
        prompt = world.find_prompt(list(d.messages[:-1]))
        assert prompt is not None and h.messages[:-1] == d.messages[:-1]
        if prompt.task == "harmful":  # the world refused; the helpful-only answer is the corpus's how-to
            changed += 1
            assert world.judge.is_refusal(d.messages[-1].content)
            assert "harmful_compliance" in world.gold(prompt, h.messages[-1].content).reasons
        else:
            assert h == d
    assert changed > 0


def test_safety_section_end_to_end_tiny(small_world, tiny_model_factory, tmp_path):
    from kaizen.safety.demo import SafetyDemoConfig, safety_section

    cfg = SafetyDemoConfig(moderation_steps=4, detector_steps=4, n_per_template=1, redteam_per_template=1,
                           redteam_benign=4, max_new_tokens=4, rlhf_rankings=16, rlhf_steps=2, helpful_only_epochs=1)
    model = tiny_model_factory("llama")
    out = safety_section(tmp_path / "safety", small_world, model, seed=0, cfg=cfg)
    assert set(out["moderation"]["f1"]) >= {"harassment", "violence", "illicit"}
    assert 0 <= out["moderation"]["macro_f1"] <= 1 and 0 <= out["moderation"]["benign_mention_fpr"] <= 1
    assert set(out["redteam"]) == set(attacks.KINDS)
    for row in out["redteam"].values():
        assert {"success_no_defence", "success_all_defences", "success_no_defence_after_rlhf",
                "success_all_defences_after_rlhf"} <= set(row)
    assert 0 <= out["benign_false_refusal"] <= 1
    assert out["policy"] == "helpful_only_sft"  # the rows attacked the helpful-only SFT, not the demo policy
    assert (tmp_path / "safety" / "helpful_only" / "model").is_dir()
    assert set(out["redteam_demo_policy"]["redteam"]) == set(attacks.KINDS)
    outside = out["redteam_outside"]["redteam"]
    assert set(outside) == set(attacks.KINDS) and "success_no_defence_after_rlhf" in outside["jailbreak"]
    assert json.loads((tmp_path / "safety" / "safety.json").read_text()) == out
