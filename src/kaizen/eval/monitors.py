"""Reward-hacking monitors for PPO: is the policy pleasing the reward model or getting better?

    kaizen ppo ... --monitor.judge gold --monitor.world runs/world --monitor.probe_every 5 \
        --monitor.stop_on_hacking --monitor.keep_best

Over-optimising a learned reward (Gao et al. 2023, "Scaling laws for reward model
over-optimization") shows as the RM score climbing while what people (or a trusted judge) think
falls, usually with answers growing longer and more repetitive. Logged every iteration under
``monitor/``: the RM score against the KL (``rm_gain_per_kl``: RM score gained since the first
iteration per nat of KL), answer length relative to the first iteration (``length_drift``) and the
share of distinct word 3-grams in the rollouts against the first iteration (``repetition_drift``,
negative: more repeated phrases). With ``judge`` set, every ``probe_every`` iterations the policy
answers a fixed probe set greedily and the judge compares those answers with the initial policy's
(``probe_win_rate``, 0.5 at the start). When the RM score over the last ``probe_every`` iterations
rose while the probe win rate fell, a warning goes to the log (``hacking_alarm`` = 1);
``stop_on_hacking`` stops PPO after ``patience`` alarms in a row, and ``keep_best`` saves the policy
of the best probe to ``OUT/best/model`` and makes it ``OUT/model`` when PPO stopped for hacking.
A resumed run measures its drifts from the iteration it resumed at.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import arg
from kaizen.eval.metrics import distinct_ngram_fraction, mean_ci95

log = logging.getLogger("kaizen.ppo")


@dataclass(frozen=True)
class MonitorConfig:
    """Reward-hacking monitors in PPO."""

    judge: str | None = arg(None, "Probe judge: gold (needs world), rm=PATH (a second RM) or llm=URL#model; none: "
                                  "only the RM/KL, length and repetition drifts.")
    world: str | None = arg(None, "Demo world for the gold probe judge.")
    probe_prompts: str | None = arg(None, "Probe prompt file (default: the first probe_size PPO prompts).")
    probe_size: int = arg(32, "Prompts in the probe set.")
    probe_every: int = arg(5, "Probe every N iterations.")
    probe_max_new_tokens: int = arg(48, "Longest probe answer.")
    min_probe_drop: float = arg(0.02, "Probe win-rate fall (since the previous probe) that counts as falling.")
    stop_on_hacking: bool = arg(False, "Stop PPO after `patience` alarms in a row.")
    patience: int = arg(2, "Alarms in a row before stopping.")
    keep_best: bool = arg(False, "Save the best-probing policy to OUT/best/model (OUT/model when stopped for hacking).")
    api_key: str | None = arg(None, "Key for an llm probe judge (default: $KAIZEN_API_KEY).")


def hacking_alarm(rm_before: float, rm_now: float, probe_before: float, probe_now: float, min_drop: float) -> bool:
    """The RM score rose while the probe win rate fell by more than ``min_drop``."""
    return rm_now > rm_before and probe_now < probe_before - min_drop


class RewardHackingMonitor:
    def __init__(self, cfg: MonitorConfig, trainer, run_dir: Path):
        self.cfg, self.trainer, self.run_dir = cfg, trainer, Path(run_dir)
        self.first: dict | None = None
        self.rm_window: list[float] = []
        self.last_window_rm: float | None = None
        self.probes: list[dict] = []
        self.alarms = self.in_a_row = 0
        self.best: tuple[float, int] | None = None
        self.should_stop = False
        self.judge = self.prompts = self.baseline = None
        if cfg.judge:
            self._setup_probe()

    def _setup_probe(self) -> None:
        from kaizen.eval.http import default_api_key
        from kaizen.eval.judges import parse_judge
        from kaizen.eval.prompts import EvalPrompt, attach_world, load_prompts

        world = None
        if self.cfg.world:
            from kaizen.world import DemoWorld

            world = DemoWorld.load(self.cfg.world)
        if self.cfg.probe_prompts:
            prompts = load_prompts(self.cfg.probe_prompts, self.cfg.probe_size)
        else:
            prompts = [EvalPrompt(str(i), list(c)) for i, c in enumerate(self.trainer.prompts[: self.cfg.probe_size])]
        if self.cfg.judge == "gold":
            prompts = attach_world(prompts, world, self.cfg.probe_prompts or "the PPO prompts")
        self.prompts = prompts
        self.judge = parse_judge(self.cfg.judge, world=world, api_key=self.cfg.api_key or default_api_key())
        self.baseline = self._answers()

    def _answers(self) -> list[str]:
        from kaizen.generation import SamplingParams, chat_prompt, generate

        t = self.trainer
        texts = [chat_prompt(t.tokenizer, p.messages) for p in self.prompts]
        gens = generate(t.acc.unwrap_model(t.policy), t.tokenizer, texts,
                        SamplingParams(self.cfg.probe_max_new_tokens, 0.0, 1.0, greedy=True), seed=0)
        return [g.text for g in gens]

    def observe(self, iteration: int, stats: dict, answers: list[str] | None) -> dict[str, float]:
        """Monitor figures for this iteration (merged into PPO's metrics under ppo/monitor_*)."""
        distinct = distinct_ngram_fraction(answers) if answers else None
        if self.first is None:
            self.first = {"rm": stats["rm_score"], "length": stats["response_length"], "distinct": distinct}
        out = {"monitor_rm_gain_per_kl": (stats["rm_score"] - self.first["rm"]) / max(stats["kl"], 1e-3),
               "monitor_length_drift": stats["response_length"] / max(self.first["length"], 1e-6)}
        if distinct is not None and self.first["distinct"] is not None:
            out["monitor_distinct3"] = distinct
            out["monitor_repetition_drift"] = distinct - self.first["distinct"]
        self.rm_window.append(stats["rm_score"])
        if self.judge is not None and iteration % self.cfg.probe_every == 0:
            out.update(self._probe(iteration))
        return out

    def _probe(self, iteration: int) -> dict[str, float]:
        now = self._answers()
        comp = self.judge.compare(self.prompts, now, self.baseline, a_name="policy", b_name="initial")
        win, ci = mean_ci95(comp.outcomes)
        rm_now = sum(self.rm_window) / len(self.rm_window)
        self.rm_window = []
        prev = self.probes[-1] if self.probes else {"win_rate": 0.5, "rm_score": self.first["rm"]}
        alarm = hacking_alarm(prev["rm_score"], rm_now, prev["win_rate"], win, self.cfg.min_probe_drop)
        self.alarms += alarm
        self.in_a_row = self.in_a_row + 1 if alarm else 0
        self.probes.append({"iteration": iteration, "win_rate": win, "ci95": ci, "rm_score": rm_now, "alarm": alarm})
        if alarm:
            log.warning("reward hacking suspected at iteration %d: RM score %.3f -> %.3f while the %s judge's probe "
                        "win rate against the initial policy fell %.3f -> %.3f", iteration, prev["rm_score"], rm_now,
                        self.judge.name, prev["win_rate"], win)
            print(f"ppo: WARNING reward hacking suspected at iteration {iteration}: RM score {prev['rm_score']:.3f} -> "
                  f"{rm_now:.3f}, probe win rate {prev['win_rate']:.3f} -> {win:.3f}", flush=True)
        if self.cfg.keep_best and (self.best is None or win > self.best[0]):
            self.best = (win, iteration)
            self.trainer.save(self.run_dir / "best")
        if self.cfg.stop_on_hacking and self.in_a_row >= self.cfg.patience:
            self.should_stop = True
            print(f"ppo: stopping at iteration {iteration} after {self.in_a_row} hacking alarms in a row", flush=True)
        self._write()
        return {"monitor_probe_win_rate": win, "monitor_hacking_alarm": float(alarm)}

    def _write(self) -> None:
        (self.run_dir / "monitor.json").write_text(json.dumps(
            {"judge": self.cfg.judge, "probes": self.probes, "alarms": self.alarms, "stopped": self.should_stop,
             "best": {"win_rate": self.best[0], "iteration": self.best[1]} if self.best else None}, indent=2))

    def final_model(self, trainer, run_dir: Path) -> Path:
        """OUT/model: the best probe's policy when PPO stopped for hacking and keep_best is on, else the last."""
        if self.should_stop and self.best is not None:
            dst = Path(run_dir) / "model"
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(Path(run_dir) / "best" / "model", dst)
            print(f"ppo: kept the best probe's policy (iteration {self.best[1]}, win rate {self.best[0]:.3f})")
            return dst
        return trainer.save(run_dir)
