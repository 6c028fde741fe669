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


@dataclass(frozen=True)
class DemoConfig:
    """Run the loop end to end on the demo world."""

    out: str = arg("demo-out", "Output directory; every stage writes a subfolder.")
    seed: int = arg(0, "Seed of the world and of every stage.")
    until: Literal["sft", "all"] = arg("all", "Stop after SFT (Steps 0-1 and their report, ~4 CPU minutes) or run the whole loop.")
    world: WorldConfig = arg(WorldConfig, "Demo world knobs.")
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
    # The demo's RM is a 2M-parameter model with blind spots (it likes any refusal: benign prompts
    # are never refused in its data). β = 0.3 keeps PPO within ~2 nats of SFT, where the gold judge
    # still agrees with the RM; at β ≈ 0.1 PPO drifts to 4 nats and refuses a quarter of benign
    # prompts. γ_ptx = 0.1: at 1.0 the ptx term outweighs the PPO loss and pretrains the policy
    # back towards the base model (chat quality drops with it). Measured in docs/demo-world.md.
    ppo: PPOConfig = arg(PPOConfig(iterations=30, lr=5e-5, value_lr=1e-4, warmup_iterations=3, ptx_coef=0.1,
                                   kl_coef=0.3, save_every=10),
                         "Step 3 settings (PPO-ptx, and plain PPO with ptx_coef 0).")
    dpo: DPOConfig = arg(DPOConfig(lr=1e-5, beta=0.1, max_steps=150, batch_size=16, save_every=0), "DPO settings.")
    eval: EvalConfig = arg(EvalConfig(num_prompts=200), "Held-out evaluation settings.")


def run(cfg: DemoConfig) -> dict:
    from kaizen import dpo, evaluate, ppo, pretrain, rank, reward, sft
    from kaizen.plot import plot_run
    from kaizen.world import build_world

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def stage(name, fn, *args):
        t0 = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        result = fn(*args)
        timings[name] = round(time.perf_counter() - t0, 1)
        return result

    world = out / "world"
    corpus, heldout = str(world / "corpus_train.jsonl"), str(world / "corpus_heldout.jsonl")
    stage("world", build_world, replace(cfg.world, out=str(world), seed=cfg.seed))
    base = stage("pretrain", pretrain.run, replace(cfg.pretrain, out=str(out / "pretrain"), corpus=[corpus],
                                                   heldout=heldout, seed=cfg.seed))
    sft_model = stage("sft", sft.run, replace(cfg.sft, model=str(base), out=str(out / "sft"), seed=cfg.seed,
                                              data=[str(world / "sft_train.jsonl")], eval_data=str(world / "sft_heldout.jsonl")))
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
    rankings = stage("rank", rank.run, replace(cfg.rank, policy=str(sft_model), world=str(world), prompts=None,
                                               fewshot_policy=str(base) if cfg.rank.fewshot_answers else None,
                                               out=str(out / "rank"), seed=cfg.seed))
    rm_model = stage("rm", reward.run, replace(cfg.rm, model=str(sft_model), data=[str(rankings)], out=str(out / "rm"),
                                               demonstrations=str(world / "sft_train.jsonl"), seed=cfg.seed))
    policies = {}
    for name, ptx_coef in (("ppo", 0.0), ("ppo_ptx", cfg.ppo.ptx_coef)):
        policies[name] = stage(name, ppo.run, replace(
            cfg.ppo, policy=str(sft_model), ref_model=None, reward_model=str(rm_model), value_model=None,
            prompts=[str(world / "prompts_train.jsonl")], ptx_data=[corpus], ptx_coef=ptx_coef,
            out=str(out / name), seed=cfg.seed))
    policies["dpo"] = stage("dpo", dpo.run, replace(cfg.dpo, model=str(sft_model), ref_model=None, data=[str(rankings)],
                                                    out=str(out / "dpo"), seed=cfg.seed))
    report = stage("eval", evaluate.run, replace(
        cfg.eval, world=str(world), out=str(out / "eval"), reward_model=str(rm_model), reference="sft",
        models=[f"sft={sft_model}"] + [f"{n}={p}" for n, p in policies.items()],
        fewshot=[f"pretrained={base}"], seed=cfg.seed))
    for run_dir in ("pretrain", "sft", "rm", "ppo", "ppo_ptx", "dpo"):
        plot_run(out / run_dir)

    rm_eval = json.loads((out / "rm" / "eval.json").read_text())
    results = {**report, "rm_accuracy": rm_eval.get("pairwise_accuracy"),
               "rm_accuracy_per_criterion": {c: rm_eval.get(f"accuracy_{c}") for c in ("helpful", "truthful", "harmless")},
               "timings_s": timings}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nreward model held-out pairwise accuracy: {results['rm_accuracy']:.3f}")
    print(f"stage timings (s): {timings}")
    print(f"demo outputs: {out.resolve()}  (results.json, eval/results.md, eval/*.png, */plots/*.png)")
    return results


def main(argv: list[str]) -> int:
    run(parse_config(DemoConfig, argv, prog="kaizen demo"))
    return 0
