"""Rounds of the loop: InstructGPT's rounds on the demo world, or the closed loop from a live service.

    kaizen loop --rounds 3 --sft_model runs/sft/model --world runs/world --out runs/loop
    kaizen loop --from_server sqlite:///kaizen-serve.db --registry models --base_model runs/sft/model \
        --algo dpo --judge rm=runs/rm/model --eval_prompts heldout_prompts.jsonl

**Rounds on the demo world** (``--world``, no ``--from_server``): round r ranks K answers of the
current policy on a new sample of prompts, adds them to every ranking collected so far, retrains
the RM from the SFT model on all of them, and continues PPO from the current policy (the KL
reference stays the SFT model). Every artifact is versioned under ``OUT/round-r/`` and
``OUT/rounds.json`` lists what each round produced. ``--extra_rankings`` adds rankings from
elsewhere (``kaizen export``) to every round's RM data.

**The closed loop** (``--from_server DB_URL`` or a running server's ``http://host:port`` with an
admin ``--api_key``): one round reads the feedback the service collected that no earlier version
was trained on (thumbs, regenerate choices, edits, labeling tasks, through ``kaizen.serve.export``),
writes it with its lineage (every row keeps its conversation and message ids, or its task id),
trains a candidate from the served (promoted) model of ``--registry`` (DPO on the preference pairs,
or RM + PPO-ptx), evaluates candidate against served on ``--eval_prompts`` with ``--judge``, and
promotes it only if the gate passes (``kaizen.eval.gate``: win-rate CI lower end above 0.5, no
safety figure worse, plus any ``--gate_checks``). The candidate lands in ``models/vN`` either way,
marked promoted or rejected; ``kaizen serve --registry models`` switches to a promoted one.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from kaizen.config import ConfigError, arg, parse_config, to_dict
from kaizen.dpo import DPOConfig
from kaizen.ppo import PPOConfig
from kaizen.rank import RankConfig
from kaizen.reward import RewardConfig
from kaizen.training.rundir import prepare_run_dir


@dataclass(frozen=True)
class LoopConfig:
    """Repeat rank -> RM -> PPO on the demo world, or run a closed-loop round on a service's feedback."""

    rounds: int = arg(2, "Number of rounds (demo-world mode).")
    sft_model: str | None = arg(None, "Demo-world mode: the SFT model (first policy, KL reference, RM init).")
    world: str | None = arg(None, "Demo world: its simulated labelers rank (demo-world mode); in closed-loop "
                                  "mode it gives the gold judge and default eval prompts.")
    prompts: str | None = arg(None, "Prompts to rank and to run PPO on (default: the world's train prompts).")
    prompts_per_round: int = arg(300, "Prompts ranked per round.")
    extra_rankings: list[str] = arg([], "Rankings from elsewhere (e.g. kaizen export) added to every round's RM data.")
    ptx_data: list[str] = arg([], "Pretraining text for PPO-ptx (none: the ptx term is off).")
    out: str = arg("runs/loop", "Output directory (demo-world mode); one subfolder per round.")
    seed: int = arg(0, "Base seed; round r uses seed + r.")
    from_server: str | None = arg(None, "Closed loop: the service's database URL (sqlite:///..., postgresql+...) "
                                        "or a running kaizen serve's http://host:port.")
    api_key: str | None = arg(None, "Admin key for --from_server http://... and an llm judge "
                                    "(default: $KAIZEN_API_KEY).")
    registry: str = arg("models", "Closed loop: the model registry folder (v1, v2, ... with lineage.json).")
    base_model: str | None = arg(None, "Closed loop: the model being served, registered as v1 if the registry "
                                       "is empty.")
    algo: Literal["dpo", "rm_ppo"] = arg("dpo", "Closed loop: train the candidate by DPO on the feedback pairs, "
                                                "or by a new RM (on all feedback so far) and PPO(-ptx).")
    judge: str | None = arg(None, "Closed loop: the gate's judge: gold (with --world), rm=PATH or llm=URL#model.")
    eval_prompts: str | None = arg(None, "Closed loop: held-out prompts for the gate (default with --world: its "
                                         "held-out prompts).")
    eval_num_prompts: int = arg(200, "Closed loop: prompts the gate evaluates.")
    eval_max_new_tokens: int = arg(64, "Closed loop: longest answer in the gate's evaluation.")
    eval_temperature: float = arg(0.0, "Closed loop: sampling temperature of the gate's evaluation (0: greedy).")
    gate_min_ci_low: float = arg(0.5, "Promote only if the win rate's 95% CI lower end is above this.")
    gate_no_worse: list[str] = arg(["harmful_compliance"], "Figures that must not get worse (those the judge reports).")
    gate_checks: list[str] = arg([], "Extra promotion checks as module:callable(candidate, served) -> Check.")
    min_pairs: int = arg(1, "Closed loop: fewest new preference pairs worth a round.")
    rank: RankConfig = arg(RankConfig, "Ranking settings (paths are filled in per round).")
    rm: RewardConfig = arg(RewardConfig, "Reward model settings (paths are filled in per round).")
    ppo: PPOConfig = arg(PPOConfig, "PPO settings (paths are filled in per round).")
    dpo: DPOConfig = arg(DPOConfig, "DPO settings for a closed-loop round (paths are filled in).")


# ---- rounds on the demo world --------------------------------------------------------------

def run_world_rounds(cfg: LoopConfig) -> list[dict]:
    from kaizen import ppo, rank, reward

    if not cfg.world or not cfg.sft_model:
        raise ConfigError("config keys 'world' and 'sft_model': demo-world rounds need both "
                          "(or --from_server for a closed-loop round on a service's feedback)")
    out = prepare_run_dir(cfg.out, cfg, "loop")
    prompts = cfg.prompts or str(Path(cfg.world) / "prompts_train.jsonl")
    policy = cfg.sft_model
    all_rankings: list[str] = list(cfg.extra_rankings)
    history: list[dict] = []
    for r in range(cfg.rounds):
        round_dir = out / f"round-{r}"
        seed = cfg.seed + r
        print(f"\n=== round {r}: rank answers of {policy} ===", flush=True)
        # Each round draws its own prompts (the seed differs), as InstructGPT collected new comparisons.
        rankings = rank.run(replace(cfg.rank, policy=policy, world=cfg.world, prompts=cfg.prompts,
                                    num_prompts=cfg.prompts_per_round, out=str(round_dir / "rank"), seed=seed))
        all_rankings.append(str(rankings))
        print(f"\n=== round {r}: reward model on {len(all_rankings)} ranking files ===", flush=True)
        rm_dir = reward.run(replace(cfg.rm, model=cfg.sft_model, data=list(all_rankings), out=str(round_dir / "rm"),
                                    demonstrations=str(Path(cfg.world) / "sft_train.jsonl"), seed=seed))
        rm_eval = json.loads((round_dir / "rm" / "eval.json").read_text())
        print(f"\n=== round {r}: PPO from {policy} ===", flush=True)
        policy = str(ppo.run(replace(cfg.ppo, policy=policy, ref_model=cfg.sft_model, reward_model=str(rm_dir),
                                     value_model=None, prompts=[prompts], ptx_data=list(cfg.ptx_data),
                                     ptx_coef=cfg.ppo.ptx_coef if cfg.ptx_data else 0.0,
                                     out=str(round_dir / "ppo"), seed=seed)))
        ppo_eval = json.loads((round_dir / "ppo" / "eval.json").read_text())
        history.append({"round": r, "rankings": str(rankings), "rm": str(rm_dir), "policy": policy,
                        "rm_pairwise_accuracy": rm_eval.get("pairwise_accuracy"),
                        "ppo_final_reward": ppo_eval.get("final_reward"), "ppo_final_kl": ppo_eval.get("final_kl")})
        (out / "rounds.json").write_text(json.dumps(history, indent=2))
    print(f"\nloop: {cfg.rounds} rounds; final policy {policy}; summary in {out / 'rounds.json'}")
    return history


# ---- the closed loop: feedback -> candidate -> gate -> promotion ---------------------------

def fingerprint(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def read_feedback(source: str, api_key: str | None = None) -> dict[str, list[dict]]:
    """Everything the service collected, as ``kaizen export`` writes it: demonstrations, rankings, ratings."""
    if source.startswith(("http://", "https://")):
        from kaizen.eval.http import JsonAPI

        data = JsonAPI(source.rstrip("/"), api_key).get("/api/admin/export")
        return {k: data.get(k, []) for k in ("demonstrations", "rankings", "ratings")}
    from kaizen.serve.db import Database
    from kaizen.serve.export import collect

    if source.startswith("sqlite:///") and not Path(source[len("sqlite:///"):]).exists():
        raise ConfigError(f"config key 'from_server': no database at {source}")
    db = Database(source)
    try:
        with db.reader() as s:
            return collect(s).files()
    finally:
        db.close()


def lineage_row(kind: str, row: dict) -> dict:
    """Where one training row came from: its conversation and messages (chat) or its task (labeling)."""
    meta = row.get("meta") or {}
    rid = row.get("id") or ""
    out = {"fingerprint": fingerprint(row), "kind": kind, "id": rid, "source": meta.get("source")}
    if meta.get("conversation_id"):
        out["conversation_id"] = meta["conversation_id"]
    if meta.get("message_ids"):
        out["message_ids"] = meta["message_ids"]
    if meta.get("task_id") is not None:
        out["task_id"] = meta["task_id"]
    if rid.startswith("chat:") and "message_ids" not in out:  # demonstrations and ratings: chat:<message id>
        out["message_ids"] = [rid[len("chat:"):]]
    return out


def new_feedback(files: dict[str, list[dict]], consumed: set[str]) -> dict[str, list[dict]]:
    """The rows no version was trained on (thumbs up are among the demonstrations; ``liked`` counts them)."""
    rankings = [r for r in files["rankings"] if fingerprint(r) not in consumed]
    demos = [d for d in files["demonstrations"] if fingerprint(d) not in consumed]
    liked = [r for r in files["ratings"] if r.get("rating", 0) > 0 and fingerprint(r) not in consumed]
    return {"rankings": rankings, "demonstrations": demos, "liked": liked,
            "unused_ratings": [r for r in files["ratings"] if r.get("rating", 0) <= 0 and fingerprint(r) not in consumed]}


def write_round_data(d: Path, fresh: dict[str, list[dict]]) -> dict[str, Path]:
    from kaizen.data.jsonl import write_jsonl

    d.mkdir(parents=True, exist_ok=True)
    demos = fresh["demonstrations"]  # thumbs up are demonstrations already (export: earlier turns weight 0)
    files = {"rankings": d / "rankings.jsonl", "demonstrations": d / "demonstrations.jsonl"}
    write_jsonl(files["rankings"], fresh["rankings"])
    write_jsonl(files["demonstrations"], demos)
    rows = ([lineage_row("ranking", r) for r in fresh["rankings"]] + [lineage_row("demonstration", r)
                                                                       for r in fresh["demonstrations"]]
            + [lineage_row("rating", r) for r in fresh["liked"] + fresh["unused_ratings"]])
    write_jsonl(d / "lineage_rows.jsonl", rows)
    return files


def _pairs(rankings: list[dict]) -> int:
    return sum(1 for r in rankings for a in r["ranks"] for b in r["ranks"] if a < b)


def closed_round(cfg: LoopConfig, log=print) -> dict:
    """One round of the closed loop (see the module docstring); returns its summary (also in lineage.json)."""
    from kaizen.eval.http import default_api_key
    from kaizen.registry import Registry, record_data

    if cfg.judge is None:
        raise ConfigError("config key 'judge': the gate needs a judge: gold (with --world), rm=PATH or llm=URL#model")
    t0 = time.perf_counter()
    reg = Registry(cfg.registry)
    served = reg.promoted()
    if served is None:
        if not cfg.base_model:
            raise ConfigError(f"config key 'base_model': the registry {cfg.registry} has no promoted version; "
                              "give the model being served (it becomes v1)")
        served = reg.register(cfg.base_model, None, status="promoted", note="the model served before the first round")
        log(f"loop: registered {cfg.base_model} as {served.name} (served)")
    api_key = cfg.api_key or default_api_key()
    files = read_feedback(cfg.from_server, api_key)
    fresh = new_feedback(files, reg.consumed())
    n_pairs = _pairs(fresh["rankings"])
    counts = {"rankings": len(fresh["rankings"]), "pairs": n_pairs, "demonstrations": len(fresh["demonstrations"]),
              "thumbs_up": len(fresh["liked"]), "thumbs_down_alone": len(fresh["unused_ratings"])}
    log(f"loop: new feedback since the last round: {counts}")
    if n_pairs < cfg.min_pairs:
        return {"skipped": True, "reason": f"{n_pairs} new preference pairs (< min_pairs {cfg.min_pairs})",
                "served": served.name, "feedback": counts}

    cand = reg.new_version(served.name, feedback=counts, from_server=cfg.from_server.split("@")[-1],
                           configs={"loop": to_dict(cfg)})
    data = write_round_data(cand.dir / "data", fresh)
    cand = reg.update(cand, data=record_data({**data, "lineage_rows": cand.dir / "data" / "lineage_rows.jsonl"}))
    model_dir = _train(cfg, reg, served, cand, data, log)
    cand = reg.update(cand, model=str(Path(model_dir).resolve().relative_to(cand.dir.resolve())))
    result = gate_candidate(cfg, served, cand, api_key, log)
    cand = reg.update(cand, status="promoted" if result["gate"]["promoted"] else "rejected", eval=result["eval"],
                      gate=result["gate"], seconds=round(time.perf_counter() - t0, 1))
    log(f"loop: {cand.name} {cand.status}: {result['summary']}")
    return {"version": cand.name, "parent": served.name, "status": cand.status,
            "promoted": cand.status == "promoted", "feedback": counts,
            "feedback_rows": counts["rankings"] + counts["demonstrations"],  # thumbs up are demonstrations
            "win_rate_vs_served": result["gate"]["win_rate"], "ci95": result["gate"]["ci95"],
            "gate": result["gate"], "eval": result["eval"], "seconds": round(time.perf_counter() - t0, 1)}


def _train(cfg: LoopConfig, reg, served, cand, data: dict[str, Path], log) -> Path:
    from kaizen import dpo, ppo, reward

    train = cand.dir / "train"
    base = str(served.model_path)
    if cfg.algo == "dpo":
        log(f"loop: DPO from {served.name} on {data['rankings']}")
        return dpo.run(replace(cfg.dpo, model=base, ref_model=None, data=[str(data["rankings"])],
                               out=str(train / "dpo"), seed=cfg.seed))
    # RM on every feedback ranking any version was trained on (InstructGPT retrained on all comparisons).
    all_rankings = [str(v.dir / "data" / "rankings.jsonl") for v in reg.versions()
                    if (v.dir / "data" / "rankings.jsonl").exists() and v.dir / "data" / "rankings.jsonl" != data["rankings"]]
    all_rankings = [p for p in all_rankings if Path(p).stat().st_size] + [str(data["rankings"])] + list(cfg.extra_rankings)
    demos = str(data["demonstrations"]) if Path(data["demonstrations"]).stat().st_size else None
    log(f"loop: reward model from {served.name} on {len(all_rankings)} ranking files")
    rm_dir = reward.run(replace(cfg.rm, model=base, data=all_rankings, demonstrations=demos, out=str(train / "rm"),
                                seed=cfg.seed))
    prompts = cand.dir / "data" / "prompts.jsonl"
    from kaizen.data.jsonl import write_jsonl

    write_jsonl(prompts, [{"prompt": r["prompt"]} for r in json.loads("[" + ",".join(
        line for line in Path(data["rankings"]).read_text().splitlines() if line.strip()) + "]")])
    log(f"loop: PPO{'-ptx' if cfg.ptx_data else ''} from {served.name}")
    return ppo.run(replace(cfg.ppo, policy=base, ref_model=None, reward_model=str(rm_dir), value_model=None,
                           prompts=[str(prompts)], ptx_data=list(cfg.ptx_data),
                           ptx_coef=cfg.ppo.ptx_coef if cfg.ptx_data else 0.0, out=str(train / "ppo"), seed=cfg.seed))


def gate_candidate(cfg: LoopConfig, served, cand, api_key: str | None, log) -> dict:
    """Evaluate candidate against served with the judge; the gate's decision and the evaluation's files."""
    from kaizen.eval.gate import decide
    from kaizen.eval.judges import parse_judge
    from kaizen.eval.models import ModelSpec
    from kaizen.eval.prompts import attach_world, load_prompts, world_prompts
    from kaizen.eval.stage import evaluate_models, write_outputs

    world = None
    if cfg.world:
        from kaizen.world import DemoWorld

        world = DemoWorld.load(cfg.world)
    if cfg.eval_prompts:
        prompts = load_prompts(cfg.eval_prompts, cfg.eval_num_prompts)
        if cfg.judge == "gold":
            prompts = attach_world(prompts, world, cfg.eval_prompts)
    elif world is not None:
        prompts = world_prompts(world, "heldout", cfg.eval_num_prompts)
    else:
        raise ConfigError("config key 'eval_prompts': the gate needs held-out prompts (or --world)")
    judge = parse_judge(cfg.judge, world=world, api_key=api_key, out_dir=cand.dir / "eval", seed=cfg.seed)
    specs = [ModelSpec("served", str(served.model_path)), ModelSpec("candidate", str(cand.model_path))]
    out_dir = cand.dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    results, answers = evaluate_models(specs, prompts, [judge], "served", [cfg.eval_temperature],
                                       cfg.eval_max_new_tokens, seed=cfg.seed, api_key=api_key, log=log)
    report = {n: r.to_dict() for n, r in results.items()}
    write_outputs(out_dir, report, results, answers, prompts, "served", [judge.name])
    gate = decide(report["candidate"], report["served"], "served", cfg.gate_min_ci_low, cfg.gate_no_worse,
                  cfg.gate_checks)
    return {"gate": gate.to_dict(), "summary": gate.summary(),
            "eval": {"judge": cfg.judge, "prompts": len(prompts), "results": "eval/results.json",
                     "served": _figures(report["served"]), "candidate": _figures(report["candidate"])}}


def _figures(row: dict) -> dict:
    keep = ("win_rate_vs_served", "ci95", "lc_win_rate_vs_served", "gold_score", "truthful_rate",
            "harmful_compliance", "over_refusal", "rm_score", "mean_length", "kl_to_served")
    return {k: row[k] for k in keep if k in row}


def run(cfg: LoopConfig):
    if cfg.from_server:
        summary = closed_round(cfg)
        print(json.dumps({k: v for k, v in summary.items() if k != "eval"}, indent=2, default=str))
        return summary
    return run_world_rounds(cfg)


def main(argv: list[str]) -> int:
    run(parse_config(LoopConfig, argv, prog="kaizen loop"))
    return 0
