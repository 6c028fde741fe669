"""The safety part of ``kaizen demo``: moderation, the attack detector, the red-team suite, an RLHF round.

    from kaizen.safety.demo import safety_section
    results["safety"] = safety_section(out / "safety", out / "world", out / "sft" / "model", seed=0,
                                       base_model=out / "pretrain" / "model")

1. ``kaizen moderation train`` and ``eval`` on the base model (the demo's pretrained LM): per-category
   F1, macro F1 and the false-positive rate on harmless mentions, on the held-out split.
2. The attack detector, trained the same way on the DETECTOR templates.
3. ``kaizen redteam`` on the policy, with no defence, each alone and all of them.
4. An RLHF round: DPO from the policy on attack rankings (kaizen.safety.rlhf), then the red-team
   suite again, so the table shows what the round changed without any defence.

Returns (and writes to ``out_dir/safety.json``) the ``safety`` key of ``demo-out/results.json``:
``moderation`` (``f1`` per category, ``macro_f1``, ``benign_mention_fpr``), ``redteam`` (per kind:
``success_no_defence``, ``success_all_defences``, and ``..._after_rlhf``), ``benign_false_refusal``
(before / after, no defence / all), and ``timings_s``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import arg


@dataclass(frozen=True)
class SafetyDemoConfig:
    """Sizes of the demo's safety section (the defaults take a few CPU minutes with the demo's model)."""

    moderation_steps: int = arg(400, "Moderation classifier training steps.")
    detector_steps: int = arg(250, "Attack detector training steps.")
    n_per_template: int = arg(10, "Generated moderation / detector texts per template.")
    redteam_per_template: int = arg(3, "Red-team attacks per template.")
    redteam_benign: int = arg(60, "Benign requests in the red-team suite.")
    max_new_tokens: int = arg(40, "Answer length in the red-team suite.")
    rlhf_rankings: int = arg(600, "Rankings of the RLHF round (attacks and benign prompts).")
    rlhf_steps: int = arg(60, "DPO steps of the RLHF round.")
    rlhf_lr: float = arg(5e-5, "DPO learning rate of the RLHF round.")
    rlhf_beta: float = arg(0.1, "DPO β of the RLHF round.")


def safety_section(out_dir, world, policy_dir, seed: int = 0, base_model=None,
                   cfg: SafetyDemoConfig = SafetyDemoConfig()) -> dict:
    from kaizen.data.formats import save_records
    from kaizen.dpo import DPOConfig
    from kaizen.dpo import run as dpo_run
    from kaizen.safety.moderation import ModerationEvalConfig, ModerationTrainConfig, evaluate, train
    from kaizen.safety.redteam import SETTINGS, RedteamConfig, format_table, redteam
    from kaizen.safety.rlhf import attack_rankings
    from kaizen.world.world import DemoWorld

    out, world, policy = Path(out_dir), str(world), str(policy_dir)
    base = str(base_model or policy_dir)
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        return result

    moderation = timed("moderation", train, ModerationTrainConfig(
        base=base, out=str(out / "moderation"), world=world, n_per_template=cfg.n_per_template,
        max_steps=cfg.moderation_steps, seed=seed))
    mod_report = evaluate(ModerationEvalConfig(model=str(moderation.path)), moderation)
    detector = timed("detector", train, ModerationTrainConfig(
        base=base, out=str(out / "detector"), task="attacks", world=world, n_per_template=cfg.n_per_template,
        max_steps=cfg.detector_steps, seed=seed))
    det_report = evaluate(ModerationEvalConfig(model=str(detector.path)), detector)

    def attack(target: str, name: str, settings) -> dict:
        rt = RedteamConfig(target=target, world=world, settings=list(settings), n_per_template=cfg.redteam_per_template,
                           n_benign=cfg.redteam_benign, max_new_tokens=cfg.max_new_tokens, seed=seed,
                           out=str(out / f"redteam_{name}.json"), device="cpu")
        report = timed(f"redteam_{name}", redteam, rt, moderation=moderation, detector=detector)
        print(f"\nred team, {name}:\n{format_table(report['table'])}", flush=True)
        return report["table"]

    before = attack(policy, "policy", SETTINGS)
    world_obj = DemoWorld.load(world)
    rankings = out / "rlhf" / "rankings.jsonl"
    save_records(attack_rankings(world_obj, cfg.rlhf_rankings, seed=seed), rankings, "ranking")
    rlhf_model = timed("rlhf_dpo", dpo_run, DPOConfig(
        model=policy, data=[str(rankings)], out=str(out / "rlhf"), lr=cfg.rlhf_lr, beta=cfg.rlhf_beta,
        max_steps=cfg.rlhf_steps, batch_size=16, warmup_steps=5, save_every=0, eval_every=0, seed=seed))
    after = attack(str(rlhf_model), "after_rlhf", ("none", "all"))

    kinds = [k for k in before["none"] if k != "benign_false_refusal"]
    results = {
        "moderation": {"f1": {c: m["f1"] for c, m in mod_report["per_category"].items()},
                       "macro_f1": mod_report["macro_f1"], "benign_mention_fpr": mod_report["benign_mention_fpr"],
                       "benign_fpr": mod_report["benign_fpr"]},
        "detector": {"f1": {c: m["f1"] for c, m in det_report["per_category"].items()},
                     "macro_f1": det_report["macro_f1"], "benign_fpr": det_report["benign_fpr"]},
        "redteam": {k: {"success_no_defence": before["none"][k]["rate"],
                        "success_all_defences": before["all"][k]["rate"],
                        "success_each_defence": {s: before[s][k]["rate"] for s in before if s not in ("none", "all")},
                        "blocked_each_setting": {s: before[s][k]["blocked_rate"] for s in before},
                        "ci95_no_defence": before["none"][k]["ci95"], "ci95_all_defences": before["all"][k]["ci95"],
                        "success_no_defence_after_rlhf": after["none"][k]["rate"],
                        "success_all_defences_after_rlhf": after["all"][k]["rate"]} for k in kinds},
        "benign_false_refusal": before["all"]["benign_false_refusal"]["rate"],
        "benign_false_refusal_detail": {
            "no_defence": before["none"]["benign_false_refusal"]["rate"],
            "all_defences": before["all"]["benign_false_refusal"]["rate"],
            "no_defence_after_rlhf": after["none"]["benign_false_refusal"]["rate"],
            "all_defences_after_rlhf": after["all"]["benign_false_refusal"]["rate"]},
        "models": {"moderation": str(moderation.path), "detector": str(detector.path), "rlhf_policy": str(rlhf_model)},
        "timings_s": timings,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "safety.json").write_text(json.dumps(results, indent=2))
    return results
