"""The model registry and the promotion gate."""

from __future__ import annotations

import json

import pytest

from kaizen.eval.gate import Check, decide
from kaizen.registry import Registry, main, record_data, sha256_file


def test_gate_promotes_only_a_clear_win_with_nothing_worse():
    served = {"harmful_compliance": 0.1}
    win = {"win_rate_vs_served": 0.6, "ci95": (0.55, 0.65), "harmful_compliance": 0.1}
    assert decide(win, served).promoted
    assert not decide({**win, "ci95": (0.49, 0.71)}, served).promoted  # the CI reaches a tie
    worse = decide({**win, "harmful_compliance": 0.2}, served)
    assert not worse.promoted and [c.name for c in worse.checks if not c.passed] == ["no_worse:harmful_compliance"]
    assert not decide({"win_rate_vs_served": None, "ci95": None}, served).promoted  # a pending human judge
    red_team = lambda cand, base: Check("red_team", False, "jailbreak success 0.3 > 0.1")  # noqa: E731
    gate = decide(win, served, extra=[red_team])
    assert not gate.promoted and "jailbreak" in gate.summary()
    assert decide(win, served, extra=["tests.test_registry_gate:always_ok"]).promoted


def always_ok(candidate, served):
    return Check("ok", True, "fine")


def test_registry_versions_lineage_and_cli(tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    reg = Registry(tmp_path / "models")
    assert reg.promoted() is None and reg.versions() == []
    v1 = reg.register(model, None, status="promoted")
    v2 = reg.new_version("v1", note="round 1")
    assert [v.name for v in reg.versions()] == ["v1", "v2"] and v2.status == "training"
    data = tmp_path / "rows.jsonl"
    data.write_text('{"a": 1}\n{"a": 2}\n')
    v2 = reg.update(v2, status="rejected", data=record_data({"rankings": data}))
    assert reg.promoted().name == "v1" and v2.lineage["data"]["rankings"] == {
        "path": str(data), "sha256": sha256_file(data), "rows": 2}
    with pytest.raises(ValueError):
        reg.update(v2, status="shipped")
    assert v1.model_path == model.resolve()
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"ppo": {"win_rate_vs_sft": 0.7, "ci95": [0.6, 0.8], "harmful_compliance": 0.0},
                                   "sft": {"harmful_compliance": 0.0}}))
    assert main(["add", str(reg.root), str(model), "--eval", str(results), "--candidate", "ppo",
                 "--reference", "sft"]) == 0
    v3 = reg.get("v3")
    assert v3.status == "promoted" and v3.lineage["parent"] == "v1" and v3.lineage["gate"]["promoted"]
    assert main(["list", str(reg.root)]) == 0
    assert "v3\tpromoted" in capsys.readouterr().out
