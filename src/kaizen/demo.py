"""The whole loop, end to end, on the offline demo world with a tiny model (CPU minutes).

    kaizen demo --out demo-out

world -> pretrain (Step 0) -> SFT (Step 1) -> rank K answers -> reward model (Step 2) ->
PPO and PPO-ptx (Step 3) -> DPO -> held-out evaluation of every model by the gold judge
(the pretrained model prompted few-shot, as InstructGPT's GPT-3 baseline).

``OUT/results.json`` has one entry per model (``sft``, ``ppo``, ``ppo_ptx``, ``dpo``,
``pretrained``) with ``win_rate_vs_sft`` and its ``ci95``, ``truthful_rate``,
``harmful_compliance``, ``over_refusal``, ``kl_to_sft``, ``mean_length``, ``pretrain_loss``,
plus ``rm_accuracy`` (held-out pairwise) at the top level.

Each stage is its own typed config section (``--sft.lr 1e-3``, or a YAML section ``sft:``);
the demo fills in the paths between stages from ``--out``, so a section's ``out`` / ``model`` /
``data`` keys are ignored here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from kaizen.config import arg, parse_config
from kaizen.dpo import DPOConfig
from kaizen.evaluate import EvalConfig
from kaizen.ppo import PPOConfig
from kaizen.pretrain import PretrainConfig
from kaizen.rank import RankConfig
from kaizen.reward import RewardConfig
from kaizen.sft import SFTConfig
from kaizen.world import WorldConfig


SECTIONS = ("feedback_loop", "prompting", "safety")


@dataclass(frozen=True)
class DemoConfig:
    """Run the loop end to end on the demo world."""

    out: str = arg("demo-out", "Output directory; every stage writes a subfolder.")
    seed: int = arg(0, "Seed of the world and of every stage.")
    until: Literal["sft", "all"] = arg("all", "Stop after SFT (Steps 0-1 and their report, ~4 CPU minutes) or run the whole loop.")
    # Demonstrations are the scarce resource (InstructGPT: 13k demonstrations, 31k PPO prompts): the
    # demo's cover half of the train entities, so ranking and PPO prompts ask about what no
    # demonstration showed, which is where RL has something to add to SFT (docs/demo-world.md).
    world: WorldConfig = arg(WorldConfig(demo_entity_fraction=0.5), "Demo world knobs.")
    # 600 steps (2.5M tokens): at 300 the model answers every question about a person with the same
    # memorised one ("Who is Brotal?" -> "Drofar is a weaver ..."); between 450 and 600 it learns to
    # bind the entity named in the prompt to its facts, without which SFT cannot generalise to the
    # held-out entities and nothing after it has anything to work with (see docs/demo-world.md).
    pretrain: PretrainConfig = arg(PretrainConfig(max_steps=600, eval_every=200, save_every=200), "Step 0 settings.")
    sft: SFTConfig = arg(SFTConfig(lr=3e-4, epochs=3, batch_size=16, warmup_steps=10, save_every=100), "Step 1 settings.")
    rank: RankConfig = arg(RankConfig(num_prompts=1000, k=4, fewshot_policy="runs/pretrain/model", fewshot_answers=2,
                                      max_new_tokens=48),
                           "Ranking settings: 2 of the K answers come from the pretrained model, prompted few-shot.")
    rm: RewardConfig = arg(RewardConfig(lr=1e-3, epochs=2, batch_size=8, warmup_steps=5, save_every=0), "Step 2 settings.")
    # The demo's RM is a 2M-parameter model with blind spots (it likes any refusal). With every
    # PPO prompt also a demonstrated one, β = 0.3 was needed to keep PPO within ~2 nats of SFT;
    # with scarce demonstrations SFT over-refuses what it never saw, and β = 0.05 lets PPO undo
    # that (over-refusal 0.30 -> 0.08 in the scarce-demonstration runs of docs/demo-world.md).
    # γ_ptx = 0.1: at 1.0 the ptx term outweighs the PPO loss and pretrains the policy back
    # towards the base model (chat quality drops with it).
    ppo: PPOConfig = arg(PPOConfig(iterations=30, lr=5e-5, value_lr=1e-4, warmup_iterations=3, ptx_coef=0.1,
                                   kl_coef=0.05, save_every=10),
                         "Step 3 settings (PPO-ptx, and plain PPO with ptx_coef 0).")
    dpo: DPOConfig = arg(DPOConfig(lr=1e-5, beta=0.1, max_steps=150, batch_size=16, save_every=0), "DPO settings.")
    eval: EvalConfig = arg(EvalConfig(num_prompts=200, reference="sft", extra_temperatures=[1.0]),
                           "Held-out evaluation settings (greedy, and again at temperature 1: the _t1 keys).")
    rounds: int = arg(2, "Rounds of Steps 2-3 (InstructGPT iterated them): round r > 1 ranks round r-1's PPO-ptx "
                         "answers, retrains the RM on all rankings and continues PPO-ptx from that policy.")
    later_rank_prompts: int = arg(500, "Prompts ranked in each round after the first.")
    later_ppo_iterations: int = arg(15, "PPO-ptx iterations in each round after the first.")
    # Off by default, measured (seed 0): with it chain-of-thought arithmetic rises from 0.02 to 0.08,
    # but the chat SFT model's gold score falls from 5.28 to 5.04 and PPO then learns to refuse (0.42).
    pretrain_arithmetic: bool = arg(False, "Pretrain on the reasoning world's arithmetic corpus too (with the "
                                           "prompting section); see docs/prompting.md.")
    sections: list[str] = arg(list(SECTIONS), f"Sections after the alignment loop, any of {list(SECTIONS)} "
                                              "(none: pass an empty list).")


def run(cfg: DemoConfig) -> dict:
    from kaizen import evaluate, pretrain, sft
    from kaizen.cli import next_steps
    from kaizen.plot import plot_demo_summary, plot_run
    from kaizen.world import build_world

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def stage(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        return result

    world = out / "world"
    corpus, heldout = str(world / "corpus_train.jsonl"), str(world / "corpus_heldout.jsonl")
    stage("world", build_world, replace(cfg.world, out=str(world), seed=cfg.seed))
    sft_data, pretrain_corpus = [str(world / "sft_train.jsonl")], [corpus]
    if "prompting" in cfg.sections:  # arithmetic to pretrain on; reasoning and tool-use formats for SFT
        from kaizen.world.reasoning import ReasoningConfig, build_reasoning

        stage("reasoning_world", build_reasoning, ReasoningConfig(world=str(world)))
        sft_data.append(str(world / "sft_reasoning.jsonl"))
        if cfg.pretrain_arithmetic:
            pretrain_corpus.append(str(world / "corpus_reasoning.jsonl"))
    base = stage("pretrain", pretrain.run, replace(cfg.pretrain, out=str(out / "pretrain"), corpus=pretrain_corpus,
                                                   heldout=heldout, seed=cfg.seed))
    sft_model = stage("sft", sft.run, replace(cfg.sft, model=str(base), out=str(out / "sft"), seed=cfg.seed,
                                              data=sft_data, eval_data=str(world / "sft_heldout.jsonl")))
    if cfg.until == "sft":
        report = stage("eval", evaluate.run, replace(
            cfg.eval, world=str(world), out=str(out / "eval"), reward_model=None, reference="sft",
            models=[f"sft={sft_model}"], fewshot=[f"pretrained={base}"], seed=cfg.seed))
        for run_dir in ("pretrain", "sft"):
            plot_run(out / run_dir)
        results = {**report, "timings_s": timings}
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print(f"\nstage timings (s): {timings}\ndemo outputs: {out.resolve()}  (results.json, eval/results.md, */plots/*.png)")
        return results

    rounds, rankings, policy = [], [], sft_model
    for r in range(1, cfg.rounds + 1):
        rounds.append(stage_round(cfg, r, stage, out, world, base, sft_model, policy, rankings))
        policy = rounds[-1]["policies"]["ppo_ptx"]
    last = rounds[-1]
    policies = {**rounds[0]["policies"], "ppo_ptx": last["policies"]["ppo_ptx"]}
    if cfg.rounds > 1:
        policies.update({f"ppo_ptx_round{r['round']}": r["policies"]["ppo_ptx"] for r in rounds[:-1]})
    report = stage("eval", evaluate.run, replace(
        cfg.eval, world=str(world), out=str(out / "eval"), reward_model=str(last["rm"]), reference="sft",
        models=[f"sft={sft_model}"] + [f"{n}={p}" for n, p in policies.items()],
        fewshot=[f"pretrained={base}"], seed=cfg.seed))
    steering = stage("rm_steering", rm_steering, cfg, world, sft_model, rounds[0]["rm"], rounds[0]["rankings"])
    for run_dir in ("pretrain", "sft", "rm", "ppo", "ppo_ptx", "dpo"):
        plot_run(out / run_dir)

    results = {**report, **summarise_rm(rounds[0]["rm_eval"]), **steering}
    results["rounds"] = [round_entry(r, report, cfg.rounds) for r in rounds]
    # written now too, so the alignment loop's figures survive a section that fails
    (out / "results.json").write_text(json.dumps({**results, "timings_s": timings}, indent=2))
    sections = run_sections(cfg, stage, out, world, base, sft_model, last["rm"], policies["ppo_ptx"])
    results.update(sections)
    results["timings_s"] = timings
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_demo_summary(results, out / "summary.png")
    print(f"\nreward model held-out pairwise accuracy: {results['rm_accuracy']:.3f} (the gold judge's own, "
          f"the ceiling: {results['rm_accuracy_ceiling']:.3f}); RM's best of 8 SFT samples vs SFT greedy: "
          f"{results['rm_best_of_8_win']:.3f}")
    print(f"stage timings (s): {timings}")
    print(f"demo outputs: {out.resolve()}  (results.json, summary.png, eval/results.md, */plots/*.png)")
    print(next_steps(results, out))
    return results


def stage_round(cfg: DemoConfig, r: int, stage, out: Path, world: Path, base, sft_model, policy, rankings: list) -> dict:
    """Steps 2-3 once. Round 1 ranks SFT's answers and also trains plain PPO and DPO; round r > 1
    ranks the answers of round r-1's PPO-ptx policy on newly drawn prompts, retrains the RM on all
    rankings so far and continues PPO-ptx from that policy, with the KL still measured to SFT
    (InstructGPT's iterated rounds)."""
    from kaizen import dpo, ppo, rank, reward

    tag, folder = ("", out) if r == 1 else (f"_round{r}", out / f"round{r}")
    rank_cfg = cfg.rank if r == 1 else replace(cfg.rank, num_prompts=cfg.later_rank_prompts)
    ranked = stage("rank" + tag, rank.run, replace(
        rank_cfg, policy=str(policy), world=str(world), prompts=None, seed=cfg.seed + 1000 * (r - 1),
        fewshot_policy=str(base) if rank_cfg.fewshot_answers else None, out=str(folder / "rank")))
    rankings.append(str(ranked))
    rm_model = stage("rm" + tag, reward.run, replace(cfg.rm, model=str(sft_model), data=list(rankings), out=str(folder / "rm"),
                                                     demonstrations=str(world / "sft_train.jsonl"), seed=cfg.seed))
    corpus = str(world / "corpus_train.jsonl")
    runs = (("ppo", 0.0), ("ppo_ptx", cfg.ppo.ptx_coef)) if r == 1 else (("ppo_ptx", cfg.ppo.ptx_coef),)
    iterations = cfg.ppo.iterations if r == 1 else cfg.later_ppo_iterations
    policies = {}
    for name, ptx_coef in runs:
        policies[name] = stage(name + tag, ppo.run, replace(
            cfg.ppo, policy=str(policy if name == "ppo_ptx" else sft_model), ref_model=str(sft_model),
            reward_model=str(rm_model), value_model=None, prompts=[str(world / "prompts_train.jsonl")], ptx_data=[corpus],
            ptx_coef=ptx_coef, iterations=iterations, out=str(folder / name), seed=cfg.seed + 1000 * (r - 1)))
    if r == 1:
        policies["dpo"] = stage("dpo", dpo.run, replace(cfg.dpo, model=str(sft_model), ref_model=None, data=[str(ranked)],
                                                        out=str(out / "dpo"), seed=cfg.seed))
    rm_eval = json.loads((Path(rm_model).parent / "eval.json").read_text())
    return {"round": r, "rm": rm_model, "rankings": list(rankings), "policies": policies,
            "rm_eval": rm_eval, "rm_pairwise_accuracy": rm_eval.get("pairwise_accuracy"),
            "rankings_total": _count_rows(rankings)}


def _count_rows(files: list[str]) -> int:
    return sum(sum(1 for line in open(f, encoding="utf-8") if line.strip()) for f in files)


def round_entry(r: dict, report: dict, rounds: int) -> dict:
    """One entry of ``results["rounds"]``: that round's models with the same keys as the top level."""
    names = {n: (f"ppo_ptx_round{r['round']}" if n == "ppo_ptx" and r["round"] < rounds else n) for n in r["policies"]}
    models = {n: report[key] for n, key in names.items() if key in report}
    ptx = models.get("ppo_ptx", {})
    return {"round": r["round"], "rm_pairwise_accuracy": r["rm_pairwise_accuracy"], "rankings": r["rankings_total"],
            "win_rate_vs_sft": ptx.get("win_rate_vs_sft"), "ci95": ptx.get("ci95"), "name": f"round {r['round']} PPO-ptx",
            **models}


def summarise_rm(rm_eval: dict) -> dict:
    """The top-level RM keys of results.json, from the RM run's eval.json."""
    return {"rm_accuracy": rm_eval.get("pairwise_accuracy"),
            "rm_accuracy_per_criterion": {c: rm_eval.get(f"accuracy_{c}") for c in ("helpful", "truthful", "harmless")}}


def rm_steering(cfg: DemoConfig, world: Path, sft_model, rm_model, ranking_files: list[str]) -> dict:
    """Round 1's RM, three ways on its held-out rankings, and its best-of-8 of SFT samples."""
    from kaizen.data.formats import load_records
    from kaizen.eval.steering import measure
    from kaizen.reward import split_by_prompt

    rankings = [x for f in ranking_files for x in load_records(f, "ranking")]
    _, heldout = split_by_prompt(rankings, cfg.rm.eval_fraction)
    got = measure(world, sft_model, rm_model, heldout, n=8, num_prompts=cfg.eval.num_prompts,
                  max_new_tokens=cfg.eval.max_new_tokens, seed=cfg.seed, precision=cfg.eval.precision)
    acc, bon = got["accuracy"], got["best_of_n"]
    return {"rm_accuracy_vs_labelers": acc["vs_labelers"], "rm_accuracy_vs_gold": acc["vs_gold"],
            "rm_accuracy_ceiling": acc["ceiling"],
            "rm_accuracy_three_ways_per_criterion": acc["per_criterion"],
            "rm_best_of_8_win": bon["rm_pick_win"], "rm_best_of_8_ci95": bon["rm_pick_ci95"],
            "gold_best_of_8_win": bon["gold_pick_win"], "random_sample_win": bon["random_pick_win"]}


def run_sections(cfg: DemoConfig, stage, out: Path, world: Path, base, sft_model, rm_model, ppo_ptx) -> dict:
    """The sections other parts of Kaizen add: the service's feedback loop, prompting strategies, safety."""
    got = {}
    if "feedback_loop" in cfg.sections:
        from kaizen.feedback_demo import feedback_loop_section

        got["feedback_loop"] = stage("feedback_loop", feedback_loop_section, out / "feedback", world, ppo_ptx, cfg.seed)
    if "prompting" in cfg.sections:
        from kaizen.prompting.demo import demo_section

        got["prompting"] = stage("prompting", demo_section, out / "prompting", world, sft_model, rm_model, cfg.seed)
    if "safety" in cfg.sections:
        from kaizen.safety.demo import safety_section

        # the served policy is attacked, defended and given a safety round; classifiers start from the base
        got["safety"] = stage("safety", safety_section, out / "safety", world, ppo_ptx, cfg.seed, base)
    return got


def main(argv: list[str]) -> int:
    run(parse_config(DemoConfig, argv, prog="kaizen demo"))
    return 0
