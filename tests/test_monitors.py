"""Reward-hacking monitors: the alarm rule, stop-and-keep-best on a stand-in trainer, and a real PPO run."""

from __future__ import annotations

import json
from types import SimpleNamespace

from kaizen.eval.judges import Comparison
from kaizen.eval.monitors import MonitorConfig, RewardHackingMonitor, hacking_alarm
from kaizen.ppo import run as ppo_run
from test_ppo import _cfg, ppo_setup  # noqa: F401  (the fixture)


def test_alarm_rule():
    assert hacking_alarm(1.0, 1.5, 0.6, 0.5, min_drop=0.02)
    assert not hacking_alarm(1.0, 1.5, 0.6, 0.59, min_drop=0.02)  # a fall within noise
    assert not hacking_alarm(1.0, 0.9, 0.6, 0.4, min_drop=0.02)  # both fall: not hacking, just worse


def test_stops_after_patience_alarms_and_keeps_the_best(tmp_path):
    saved = []

    def save(out_dir):
        (out_dir / "model").mkdir(parents=True, exist_ok=True)
        (out_dir / "model" / "it.txt").write_text(str(len(saved)))
        saved.append(out_dir)
        return out_dir / "model"

    trainer = SimpleNamespace(save=save, prompts=[])
    mon = RewardHackingMonitor(MonitorConfig(probe_every=1, stop_on_hacking=True, patience=2, keep_best=True),
                               trainer, tmp_path)
    probe = iter([[1.0, 1.0], [0.5, 0.5], [0.0, 0.5]])  # win rates 1.0, 0.5, 0.25 against the initial policy
    mon.judge = SimpleNamespace(name="stub", compare=lambda *a, **k: Comparison(next(probe)))
    mon.prompts, mon.baseline, mon._answers = ["p", "q"], ["a", "b"], lambda: ["a", "b"]
    stats = lambda rm: {"rm_score": rm, "kl": 1.0, "response_length": 10.0}  # noqa: E731
    out = [mon.observe(i + 1, stats(rm), ["very very very good"]) for i, rm in enumerate([1.0, 2.0, 3.0])]
    assert [o["monitor_hacking_alarm"] for o in out] == [0.0, 1.0, 1.0] and mon.should_stop
    assert out[0]["monitor_repetition_drift"] == 0.0 and out[1]["monitor_rm_gain_per_kl"] == 1.0
    report = json.loads((tmp_path / "monitor.json").read_text())
    assert report["best"] == {"win_rate": 1.0, "iteration": 1} and report["alarms"] == 2 and report["stopped"]
    final = mon.final_model(trainer, tmp_path)
    assert (final / "it.txt").read_text() == "0"  # the first probe's policy, not the last


def test_ppo_with_a_probe_judge(ppo_setup, tiny_model_factory, tmp_path):  # noqa: F811
    root, rm = ppo_setup
    cfg = _cfg(root, rm, tiny_model_factory("llama"), tmp_path / "ppo", iterations=4,
               monitor=MonitorConfig(judge=f"rm={rm}", probe_every=2, probe_size=4, probe_max_new_tokens=6,
                                     keep_best=True))
    ppo_run(cfg)
    rows = [json.loads(line) for line in (tmp_path / "ppo" / "metrics.jsonl").read_text().splitlines()]
    assert all("ppo/monitor_length_drift" in r and "ppo/monitor_rm_gain_per_kl" in r for r in rows if "ppo/kl" in r)
    probes = [r["ppo/monitor_probe_win_rate"] for r in rows if "ppo/monitor_probe_win_rate" in r]
    assert len(probes) == 2 and all(0 <= p <= 1 for p in probes)
    report = json.loads((tmp_path / "ppo" / "monitor.json").read_text())
    assert [p["iteration"] for p in report["probes"]] == [2, 4] and (tmp_path / "ppo" / "best" / "model").exists()
