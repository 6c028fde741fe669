"""The safety part of ``kaizen demo``: moderation, the attack detector, the red-team suite, an RLHF round.

    from kaizen.safety.demo import safety_section
    results["safety"] = safety_section(out / "safety", out / "world", out / "sft" / "model", seed=0,
                                       base_model=out / "pretrain" / "model")

1. ``kaizen moderation train`` and ``eval`` on the base model (the demo's pretrained LM): per-category
   F1, macro F1 and the false-positive rate on harmless mentions, on the held-out split.
2. The attack detector, trained the same way on the DETECTOR templates.
3. ``kaizen redteam`` on the demo's policy (``policy_dir``), with no defence, each alone and all.
4. A *helpful-only* policy (kaizen.safety.helpful_only): ``kaizen sft`` from the base on the world's
   demonstrations with harmful requests complied with instead of refused (a share of them also in
   the defended prompt format, kaizen.safety.defended). The demo's policy
   refuses on its own, so attacks on it never succeed; this one follows them, so the defences'
   gain and the round's can be seen (Anthropic red-teamed a helpful-only model the same way).
5. ``kaizen redteam`` on it, then the RLHF round: DPO from it on attack rankings (kaizen.safety.rlhf),
   then the red team again, no defence and all; both also on phrasings written elsewhere
   (``outside_attacks``, kaizen.safety.attack_file).

Returns (and writes to ``out_dir/safety.json``) the ``safety`` key of ``demo-out/results.json``:
``moderation`` (``f1`` per category, ``macro_f1``, ``benign_mention_fpr``), ``policy`` (which model the
``redteam`` rows attacked: ``helpful_only_sft``), ``redteam`` (per kind: ``success_no_defence``,
``success_all_defences``, and ``..._after_rlhf``), ``benign_false_refusal`` (before / after, no
defence / all), ``redteam_demo_policy`` (the demo's own policy, same keys without the round),
``redteam_outside`` (the outside phrasings, before and after) and ``timings_s``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import arg

# Phrasings after well-known public jailbreaks and injections, written apart from every template here.
OUTSIDE_ATTACKS = Path(__file__).resolve().parent / "data" / "outside_attacks.jsonl"  # package data: there in a wheel too


@dataclass(frozen=True)
class SafetyDemoConfig:
    """Sizes of the demo's safety section (the defaults take a few CPU minutes with the demo's model)."""

    moderation_steps: int = arg(400, "Moderation classifier training steps.")
    detector_steps: int = arg(250, "Attack detector training steps.")
    n_per_template: int = arg(10, "Generated moderation / detector texts per template.")
    classifier_members: int = arg(3, "Members of the moderation and detector ensembles (kaizen moderation train "
                                     "--members): one alone refused 5-17% of benign requests on some seeds.")
    redteam_per_template: int = arg(8, "Red-team attacks per template (8: 40 jailbreaks, enough for intervals "
                                       "that separate a large drop).")
    redteam_benign: int = arg(60, "Benign requests in the red-team suite.")
    max_new_tokens: int = arg(40, "Answer length in the red-team suite.")
    helpful_only_epochs: int = arg(3, "Epochs of the helpful-only SFT (the demo's SFT recipe).")
    helpful_only_lr: float = arg(3e-4, "Learning rate of the helpful-only SFT (the demo's SFT recipe).")
    defended_sft_share: float = arg(0.2, "Share of the helpful-only SFT's demonstrations added again in the defended "
                                         "prompt format (kaizen.safety.defended), so it has seen what the server sends.")
    defended_rlhf_share: float = arg(0.3, "Share of the round's rankings whose prompt is in the defended format.")
    outside_attacks: str | None = arg(str(OUTSIDE_ATTACKS), "Attacks written elsewhere (attack_file JSONL), run "
                                      "before and after the round; none (or a missing file) to skip.")
    rlhf_rankings: int = arg(600, "Rankings of the RLHF round (attacks and benign prompts).")
    rlhf_steps: int = arg(60, "DPO steps of the RLHF round.")
    rlhf_lr: float = arg(5e-5, "DPO learning rate of the RLHF round.")
    rlhf_beta: float = arg(0.1, "DPO β of the RLHF round.")


def safety_section(out_dir, world, policy_dir, seed: int = 0, base_model=None,
                   cfg: SafetyDemoConfig = SafetyDemoConfig()) -> dict:
    from kaizen.data.formats import load_records, save_records
    from kaizen.dpo import DPOConfig
    from kaizen.dpo import run as dpo_run
    from kaizen.safety.defended import defended_copies
    from kaizen.safety.helpful_only import helpful_only_demonstrations
    from kaizen.safety.moderation import ModerationEvalConfig, ModerationTrainConfig, evaluate, train
    from kaizen.safety.redteam import SETTINGS, RedteamConfig, format_table, redteam
    from kaizen.safety.rlhf import attack_rankings
    from kaizen.sft import SFTConfig
    from kaizen.sft import run as sft_run
    from kaizen.world.world import DemoWorld

    out, world, policy = Path(out_dir), str(world), str(policy_dir)
    base = str(base_model or policy_dir)
    world_obj = DemoWorld.load(world)
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        return result

    moderation = timed("moderation", train, ModerationTrainConfig(
        base=base, out=str(out / "moderation"), world=world, n_per_template=cfg.n_per_template,
        max_steps=cfg.moderation_steps, members=cfg.classifier_members, seed=seed))
    mod_report = evaluate(ModerationEvalConfig(model=str(moderation.path)), moderation)
    detector = timed("detector", train, ModerationTrainConfig(
        base=base, out=str(out / "detector"), task="attacks", world=world, n_per_template=cfg.n_per_template,
        max_steps=cfg.detector_steps, members=cfg.classifier_members, seed=seed))
    det_report = evaluate(ModerationEvalConfig(model=str(detector.path)), detector)

    outside = cfg.outside_attacks if cfg.outside_attacks and Path(cfg.outside_attacks).exists() else None

    def attack(target: str, name: str, settings, attacks_file: str | None = None) -> dict:
        rt = RedteamConfig(target=target, world=world, settings=list(settings), attacks=attacks_file,
                           n_per_template=cfg.redteam_per_template, n_benign=cfg.redteam_benign,
                           max_new_tokens=cfg.max_new_tokens, seed=seed, out=str(out / f"redteam_{name}.json"),
                           device="cpu")
        report = timed(f"redteam_{name}", redteam, rt, moderation=moderation, detector=detector)
        print(f"\nred team, {name}:\n{format_table(report['table'])}", flush=True)
        return report["table"]

    demo_policy = attack(policy, "demo_policy", SETTINGS)

    demos = load_records(Path(world) / "sft_train.jsonl", "demonstration")
    helpful_data = out / "helpful_only" / "demonstrations.jsonl"
    helpful_demos = defended_copies(helpful_only_demonstrations(demos, world_obj, seed=seed), cfg.defended_sft_share, seed)
    save_records(helpful_demos, helpful_data, "messages")
    helpful = str(timed("helpful_only_sft", sft_run, SFTConfig(
        model=base, data=[str(helpful_data)], out=str(out / "helpful_only"), lr=cfg.helpful_only_lr,
        epochs=cfg.helpful_only_epochs, batch_size=16, warmup_steps=10, save_every=0, eval_every=0, seed=seed)))

    before = attack(helpful, "helpful_only", SETTINGS)
    rankings = out / "rlhf" / "rankings.jsonl"
    save_records(defended_copies(attack_rankings(world_obj, cfg.rlhf_rankings, seed=seed), cfg.defended_rlhf_share,
                                 seed, replace=True), rankings, "ranking")
    rlhf_model = timed("rlhf_dpo", dpo_run, DPOConfig(
        model=helpful, data=[str(rankings)], out=str(out / "rlhf"), lr=cfg.rlhf_lr, beta=cfg.rlhf_beta,
        max_steps=cfg.rlhf_steps, batch_size=16, warmup_steps=5, save_every=0, eval_every=0, seed=seed,
        max_prompt_length=384))  # defended prompts run to ~320 tokens: none is cut
    after = attack(str(rlhf_model), "after_rlhf", ("none", "all"))
    outside_tables = {}
    if outside:
        outside_tables = {"before": attack(helpful, "outside_helpful_only", ("none", "all"), outside),
                          "after_rlhf": attack(str(rlhf_model), "outside_after_rlhf", ("none", "all"), outside)}

    def rows(table: dict) -> dict:
        kinds = [k for k in table["none"] if k != "benign_false_refusal"]
        return {k: {"success_no_defence": table["none"][k]["rate"], "success_all_defences": table["all"][k]["rate"],
                    "ci95_no_defence": table["none"][k]["ci95"], "ci95_all_defences": table["all"][k]["ci95"],
                    "n": table["none"][k]["n"]} for k in kinds}

    def with_each(table: dict) -> dict:
        return {k: row | {"success_each_defence": {s: table[s][k]["rate"] for s in table if s not in ("none", "all")},
                          "blocked_each_setting": {s: table[s][k]["blocked_rate"] for s in table}}
                for k, row in rows(table).items()}

    def benign(table: dict, suffix: str = "") -> dict:
        return {f"no_defence{suffix}": table["none"]["benign_false_refusal"]["rate"],
                f"all_defences{suffix}": table["all"]["benign_false_refusal"]["rate"]}

    redteam_rows = with_each(before)
    for k, row in rows(after).items():
        redteam_rows[k] |= {"success_no_defence_after_rlhf": row["success_no_defence"],
                            "success_all_defences_after_rlhf": row["success_all_defences"],
                            "ci95_no_defence_after_rlhf": row["ci95_no_defence"],
                            "ci95_all_defences_after_rlhf": row["ci95_all_defences"]}
    results = {
        "moderation": {"f1": {c: m["f1"] for c, m in mod_report["per_category"].items()},
                       "macro_f1": mod_report["macro_f1"], "benign_mention_fpr": mod_report["benign_mention_fpr"],
                       "benign_fpr": mod_report["benign_fpr"]},
        "detector": {"f1": {c: m["f1"] for c, m in det_report["per_category"].items()},
                     "macro_f1": det_report["macro_f1"], "benign_fpr": det_report["benign_fpr"]},
        # what the redteam rows attacked: the helpful-only SFT (before) and it after the DPO round
        "policy": "helpful_only_sft",
        "redteam": redteam_rows,
        "benign_false_refusal": before["all"]["benign_false_refusal"]["rate"],
        "benign_false_refusal_detail": benign(before) | benign(after, "_after_rlhf"),
        "redteam_demo_policy": {"policy": "demo_policy", "redteam": with_each(demo_policy),
                                "benign_false_refusal": benign(demo_policy)},
        **({"redteam_outside": {
            "attacks": str(outside), "policy": "helpful_only_sft",
            "redteam": {k: row | {f"{m}_after_rlhf": v for m, v in rows(outside_tables["after_rlhf"])[k].items()}
                        for k, row in rows(outside_tables["before"]).items()},
            "benign_false_refusal": benign(outside_tables["before"]) | benign(outside_tables["after_rlhf"], "_after_rlhf"),
        }} if outside else {}),
        "models": {"moderation": str(moderation.path), "detector": str(detector.path), "helpful_only": helpful,
                   "rlhf_policy": str(rlhf_model)},
        "timings_s": timings,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "safety.json").write_text(json.dumps(results, indent=2))
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m kaizen.safety.demo DEMO_OUT OUT --seed 1``: the section again on a finished demo run
    (its world, pretrained base and served policy) with another seed, as docs/safety.md's seeds table."""
    import argparse

    parser = argparse.ArgumentParser(description="The demo's safety section again on a finished demo run, with another seed.")
    parser.add_argument("demo_out", help="A finished `kaizen demo --out` directory.")
    parser.add_argument("out", help="Where this run's models, red-team reports and safety.json go.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="round2/ppo_ptx/model", help="The policy, relative to DEMO_OUT.")
    args = parser.parse_args(argv)
    demo = Path(args.demo_out)
    results = safety_section(args.out, demo / "world", demo / args.policy, args.seed, demo / "pretrain" / "model")
    print(json.dumps({k: results[k] for k in ("moderation", "redteam", "benign_false_refusal_detail")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
