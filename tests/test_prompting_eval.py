"""``kaizen eval --strategies`` and the demo section end to end on a tiny model and a small world."""

from __future__ import annotations

import json

import pytest
from conftest import reasoning_world


SMALL = dict(train_arithmetic=30, train_multihop=20, train_lookup=20, heldout_arithmetic=12, heldout_multihop=10,
             heldout_lookup=10)


@pytest.fixture(scope="module")
def rworld(small_world, tmp_path_factory):
    return reasoning_world(small_world, tmp_path_factory, "evalworld", **SMALL)


@pytest.mark.slow
def test_eval_strategies_cli(rworld, tiny_model_factory, tmp_path):
    from kaizen.evaluate import main

    model = str(tiny_model_factory("llama"))
    out = tmp_path / "ev"
    assert main(["--strategies", "zero_shot,cot,self_consistency@2,react,best_of_n@2", "--model", model,
                 "--reward_model", model, "--world", str(rworld), "--num_prompts", "3", "--scaling", "1", "2", "4",
                 "--families", "lookup", "--out", str(out), "--batch_size", "16", "--max_tokens", "12"]) == 0
    report = json.loads((out / "results.json").read_text())
    s = report["strategies"]
    assert set(s) == {"zero_shot", "cot", "self_consistency@2", "react", "best_of_n@2"}
    assert set(s["best_of_n@2"]) == {"lookup", "chat"} and "chat" in s["zero_shot"] and "chat" not in s["cot"]
    for cells in s.values():
        for c in cells.values():
            assert c["n"] == 3 and 0 <= c["ci95"][0] <= c["accuracy"] <= c["ci95"][1] <= 1 and c["tokens"] > 0
    assert set(report["scaling"]["self_consistency"]["lookup"]) == {"1", "2", "4"}
    assert (out / "scaling.png").stat().st_size > 1000 and "accuracy [95% CI]" in (out / "results.md").read_text()
    assert (out / "samples.jsonl").read_text().count("\n") > 0
    with pytest.raises(Exception, match="strategy"):
        main(["--strategies", "telepathy", "--model", model, "--world", str(rworld), "--out", str(tmp_path / "x")])


@pytest.mark.slow
def test_demo_section(rworld, tiny_model_factory, tmp_path):
    from kaizen.prompting.demo import demo_section

    model = tiny_model_factory("llama")
    sizes = {"arithmetic": 2, "multihop": 2, "lookup": 2, "chat": 2}
    report = demo_section(tmp_path / "prompting", rworld, model, model, seed=0, sizes=sizes, scaling=(1, 2), max_tokens=12,
                          reasoning_model=None)  # one model for every family (tests/test_prompting_model.py trains one)
    assert report["model"] == {"chat": str(model), "reasoning": str(model)}
    assert {"zero_shot", "cot", "self_consistency@8", "react", "best_of_n@8", "generated_knowledge"} <= set(report["strategies"])
    for key in ("accuracy", "ci95", "tokens", "seconds"):
        assert key in report["strategies"]["react"]["lookup"]
    assert set(report["scaling"]) == {"self_consistency", "best_of_n"}
    checks = report["checks"]
    assert isinstance(checks["cot_beats_zero_shot_arithmetic"]["passed"], bool)
    assert isinstance(checks["best_of_8_beats_one_sample_chat"]["passed"], bool)
    assert json.loads((tmp_path / "prompting" / "results.json").read_text())["checks"] == checks
