"""Rounds of Steps 2 and 3, as InstructGPT ran them: new answers, new rankings, new RM, new policy.

    kaizen loop --rounds 3 --sft_model runs/sft/model --world runs/world --out runs/loop

Round r ranks K answers of the current policy on a new sample of prompts, adds them to every
ranking collected so far, retrains the RM from the SFT model on all of them, and continues PPO
from the current policy (the KL reference stays the SFT model). Every artifact is versioned per
round under ``OUT/round-r/`` (``rank/rankings.jsonl``, ``rm/model``, ``ppo/model``), and
``OUT/rounds.json`` lists what each round produced and measured.

``--extra_rankings`` adds rankings collected elsewhere (``kaizen export`` from the labeling UI)
to every round's RM data, so real feedback flows into the next round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from kaizen.config import arg, parse_config
from kaizen.ppo import PPOConfig
from kaizen.rank import RankConfig
from kaizen.reward import RewardConfig
from kaizen.training.rundir import prepare_run_dir


@dataclass(frozen=True)
class LoopConfig:
    """Repeat rank -> RM -> PPO for several rounds."""

    rounds: int = arg(2, "Number of rounds.")
    sft_model: str = arg("runs/sft/model", "The SFT model: first policy, KL reference and RM initialisation.")
    world: str = arg("runs/world", "Demo world (prompts and simulated labelers) for ranking.")
    prompts: str | None = arg(None, "Prompts to rank and to run PPO on (default: the world's train prompts).")
    prompts_per_round: int = arg(300, "Prompts ranked per round.")
    extra_rankings: list[str] = arg([], "Rankings from elsewhere (e.g. kaizen export) added to every round's RM data.")
    ptx_data: list[str] = arg(["runs/world/corpus_train.jsonl"], "Pretraining text for PPO-ptx.")
    out: str = arg("runs/loop", "Output directory; one subfolder per round.")
    seed: int = arg(0, "Base seed; round r uses seed + r.")
    rank: RankConfig = arg(RankConfig, "Ranking settings (paths are filled in per round).")
    rm: RewardConfig = arg(RewardConfig, "Reward model settings (paths are filled in per round).")
    ppo: PPOConfig = arg(PPOConfig, "PPO settings (paths are filled in per round).")


def run(cfg: LoopConfig) -> list[dict]:
    from kaizen import ppo, rank, reward

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
                                     out=str(round_dir / "ppo"), seed=seed)))
        ppo_eval = json.loads((round_dir / "ppo" / "eval.json").read_text())
        history.append({"round": r, "rankings": str(rankings), "rm": str(rm_dir), "policy": policy,
                        "rm_pairwise_accuracy": rm_eval.get("pairwise_accuracy"),
                        "ppo_final_reward": ppo_eval.get("final_reward"), "ppo_final_kl": ppo_eval.get("final_kl")})
        (out / "rounds.json").write_text(json.dumps(history, indent=2))
    print(f"\nloop: {cfg.rounds} rounds; final policy {policy}; summary in {out / 'rounds.json'}")
    return history


def main(argv: list[str]) -> int:
    run(parse_config(LoopConfig, argv, prog="kaizen loop"))
    return 0
