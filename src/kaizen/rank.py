"""Collect rankings: the policy answers each prompt K times and a labeler ranks the answers.

    kaizen rank --policy runs/sft/model --world runs/world --k 4 --out runs/rank

This is the data-collection half of InstructGPT Step 2: "for a prompt the SFT model produces K
answers (K = 4..9); labelers rank them". Answers are sampled in batches with the KV cache
(``kaizen.generation``); nothing is de-duplicated, so identical answers tie (and give no pair).
The demo world's simulated labelers take the prompts round-robin, as a labeling team would.

InstructGPT ranked outputs of several models side by side, the pretrained model among them
(Ouyang et al. 2022, §3.4). ``--fewshot_policy BASE --fewshot_answers 2`` does the same: two of
the K answers come from a base model prompted few-shot. Its rude, harmful and false answers are
what teaches the reward model what SFT samples rarely show.
Human rankings come from the labeling UI of ``kaizen serve`` and ``kaizen export`` instead.

Outputs: ``OUT/rankings.jsonl`` (``Ranking.to_dict`` rows, ``meta`` = task, policy, prompt id;
what ``kaizen rm --data`` reads) and ``OUT/summary.json``: counts, mean K, ties, the mean gold
score of the sampled answers, how often the labeler orders a pair like the gold judge, and
inter-labeler agreement (a second labeler ranks the same answers; InstructGPT measured 72.6%).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from kaizen.config import ConfigError, arg, parse_config
from kaizen.data.formats import load_records
from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import MAX_ANSWERS, MIN_ANSWERS, Ranking
from kaizen.generation import SamplingParams, chat_prompt, generate
from kaizen.models.loading import default_device, load_causal_lm, load_tokenizer, resolve_precision
from kaizen.training.progress import progress
from kaizen.training.rundir import prepare_run_dir


@dataclass(frozen=True)
class RankConfig:
    """Sample K answers per prompt from a policy and have them ranked."""

    policy: str = arg("runs/sft/model", "Chat model that answers (local directory or hub id).")
    world: str | None = arg(None, "Demo world directory: prompts and simulated labelers; required (people rank "
                                  "in kaizen serve's labeling UI instead).")
    prompts: str | None = arg(None, "Prompt file (any prompt format); none: the world's train prompts. With "
                                    "labeler=world every prompt must be one of the world's.")
    num_prompts: int = arg(0, "Prompts to rank, drawn without replacement with the seed (0: all).")
    k: int = arg(4, f"Answers per prompt ({MIN_ANSWERS}..{MAX_ANSWERS}; InstructGPT: 4..9).")
    temperature: float = arg(1.0, "Sampling temperature (> 0: K greedy answers would all be the same).")
    top_p: float = arg(1.0, "Nucleus sampling mass.")
    max_new_tokens: int = arg(64, "Longest sampled answer.")
    fewshot_policy: str | None = arg(None, "A base model whose few-shot answers join the comparison (InstructGPT "
                                           "ranked outputs of several models, the pretrained one among them).")
    fewshot_answers: int = arg(0, "How many of the K answers come from fewshot_policy (needs labeler=world).")
    labeler: Literal["world"] = arg("world", "Who ranks: the demo world's simulated labelers, round-robin. "
                                             "Human rankings come from `kaizen serve`'s labeling UI.")
    out: str = arg("runs/rank", "Output directory (rankings.jsonl, summary.json).")
    seed: int = arg(0, "Seed for prompt choice, sampling and the labelers' noise.")
    batch_size: int = arg(64, "Sequences sampled per generation batch (K per prompt).")
    precision: str = arg("auto", "auto | fp32 | bf16 | fp16 for sampling.")
    trust_remote_code: bool = arg(False, "Allow custom model code from the hub.")

    def __post_init__(self):
        if not MIN_ANSWERS <= self.k <= MAX_ANSWERS:
            raise ConfigError(f"config key 'k': {self.k} is outside {MIN_ANSWERS}..{MAX_ANSWERS}")
        if self.temperature <= 0:
            raise ConfigError(f"config key 'temperature': {self.temperature} must be > 0 (greedy gives K equal answers)")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"config key 'top_p': {self.top_p} must be in (0, 1]")
        if not 0 <= self.fewshot_answers < self.k:
            raise ConfigError(f"config key 'fewshot_answers': {self.fewshot_answers} must be in 0..k-1 (k = {self.k})")
        if self.fewshot_answers and not self.fewshot_policy:
            raise ConfigError("config key 'fewshot_answers' needs 'fewshot_policy'")
        if self.num_prompts < 0:
            raise ConfigError(f"config key 'num_prompts': {self.num_prompts} must be >= 0")


def _select_prompts(cfg: RankConfig, world) -> tuple[list, int]:
    """The world's PromptItems to rank and how many listed prompts the world does not know."""
    unknown = 0
    if cfg.prompts:
        items = []
        for conv in load_records(cfg.prompts, "prompt"):
            item = world.find_prompt(conv)
            if item is None:
                unknown += 1
            else:
                items.append(item)
        if not items:
            raise ValueError(f"none of the prompts in {cfg.prompts} is a prompt of the world {cfg.world}; "
                             "the simulated labelers can only judge the world's own prompts")
    else:
        items = world.prompts("train")
    if cfg.num_prompts and cfg.num_prompts < len(items):
        items = random.Random(f"{cfg.seed}:rank:prompts").sample(items, cfg.num_prompts)
    return items, unknown


def _pair_agreement(a: list[int], b: list[int], gold: list[float]) -> tuple[int, int]:
    """(agreeing, total) over answer pairs of different gold score: both orders strict and alike."""
    agree = total = 0
    for i, j in itertools.combinations(range(len(gold)), 2):
        if gold[i] == gold[j]:
            continue
        total += 1
        da, db = a[i] - a[j], b[i] - b[j]
        agree += (da < 0 and db < 0) or (da > 0 and db > 0)
    return agree, total


def summarize(rankings: list[Ranking], skipped: int, gold: list[list[float]], second: list[list[int] | None],
              ended: list[list[bool]]) -> dict:
    """Counts and agreement numbers for ``summary.json``."""
    answers = [a for r in rankings for a in r.answers]
    strict = sum(len(r.ordered_pairs()) for r in rankings)
    all_pairs = sum(r.k * (r.k - 1) // 2 for r in rankings)
    # Gold as a ranking: a higher score is a better (smaller) rank.
    lab_gold = [_pair_agreement(r.ranks, [-x for x in g], g) for g, r in zip(gold, rankings)]
    inter = [_pair_agreement(r.ranks, s, g) for g, r, s in zip(gold, rankings, second) if s is not None]
    flat_gold = [x for g in gold for x in g]
    flat_ended = [e for es in ended for e in es]

    def ratio(parts):
        total = sum(t for _, t in parts)
        return sum(a for a, _ in parts) / total if total else None

    return {
        "num_rankings": len(rankings),
        "skipped_no_pair": skipped,
        "num_answers": len(answers),
        "mean_k": len(answers) / max(len(rankings), 1),
        "strict_pairs": strict,
        "tied_pairs": all_pairs - strict,
        "rankings_with_ties": sum(len(set(r.ranks)) < r.k for r in rankings),
        "all_bad": sum(r.all_bad for r in rankings),
        "distinct_answer_fraction": sum(len(set(r.answers)) for r in rankings) / max(len(answers), 1),
        "ended_fraction": sum(flat_ended) / max(len(flat_ended), 1),
        "mean_answer_words": sum(len(a.split()) for a in answers) / max(len(answers), 1),
        "gold_score_mean": sum(flat_gold) / max(len(flat_gold), 1),
        "labeler_gold_agreement": ratio(lab_gold),
        "inter_labeler_agreement": ratio(inter),
        "labelers": dict(Counter(r.labeler for r in rankings)),
        "tasks": dict(Counter(r.meta.get("task", "unknown") for r in rankings)),
    }


def run(cfg: RankConfig) -> Path:
    from kaizen.world import DemoWorld

    if not cfg.world:
        raise ConfigError("config key 'world': kaizen rank's labelers are the demo world's simulated ones "
                          "(--world DIR); to have people rank, create rank tasks in kaizen serve's labeling UI")
    out = prepare_run_dir(cfg.out, cfg, "rank")
    t0 = time.perf_counter()
    world = DemoWorld.load(cfg.world)
    labelers = world.labelers()
    items, unknown = _select_prompts(cfg, world)
    device = default_device()
    tokenizer = load_tokenizer(cfg.policy, trust_remote_code=cfg.trust_remote_code)
    model = load_causal_lm(cfg.policy, dtype=resolve_precision(cfg.precision, device),
                           trust_remote_code=cfg.trust_remote_code).to(device)
    params = SamplingParams(cfg.max_new_tokens, cfg.temperature, cfg.top_p)
    n_chat = cfg.k - cfg.fewshot_answers
    base_answers = _fewshot_answers(cfg, world, items, params) if cfg.fewshot_answers else {}
    print(f"rank: {len(items)} prompts x {cfg.k} answers ({n_chat} from {cfg.policy}"
          + (f", {cfg.fewshot_answers} from {cfg.fewshot_policy} few-shot" if cfg.fewshot_answers else "")
          + f"), {len(labelers)} labelers"
          + (f" ({unknown} prompts not in the world skipped)" if unknown else ""))

    rankings: list[Ranking] = []
    gold: list[list[float]] = []
    second: list[list[int] | None] = []
    ended: list[list[bool]] = []
    skipped = empty = 0
    per_chunk = max(1, cfg.batch_size // n_chat)  # prompts per generation batch
    bar = progress(len(items), "rank", unit="prompt")
    for c, s in enumerate(range(0, len(items), per_chunk)):
        chunk = items[s:s + per_chunk]
        texts = [chat_prompt(tokenizer, p.messages) for p in chunk for _ in range(n_chat)]
        gens = generate(model, tokenizer, texts, params, batch_size=cfg.batch_size, seed=cfg.seed * 1_000_003 + c)
        for j, p in enumerate(chunk):
            i = s + j
            sourced = [(g.text, g.ended, cfg.policy) for g in gens[j * n_chat:(j + 1) * n_chat]]
            sourced += [(text, True, cfg.fewshot_policy) for text in base_answers.get(p.id, [])]
            random.Random(f"{cfg.seed}:order:{p.id}").shuffle(sourced)  # no position tells the source
            # The ranking format requires text: an empty answer (the policy stopped at once) is dropped.
            own = [x for x in sourced if x[0]]
            empty += cfg.k - len(own)
            answers = [x[0] for x in own]
            if len(answers) < MIN_ANSWERS:
                skipped += 1
                continue
            labeler = labelers[i % len(labelers)]
            ranking = labeler.rank(p, answers, random.Random(f"{cfg.seed}:rank:{p.id}"))
            if len(set(ranking.ranks)) == 1:  # every answer tied (e.g. all identical): no pair, not a valid row
                skipped += 1
                continue
            rankings.append(replace(ranking, id=p.id, meta={"task": p.task, "policy": cfg.policy, "prompt_id": p.id,
                                                            "sources": [x[2] for x in own]}))
            gold.append([world.gold(p, a).score for a in answers])
            ended.append([x[1] for x in own])
            if len(labelers) > 1:  # a second opinion, for agreement only (not written)
                other = labelers[(i + 1) % len(labelers)]
                second.append(other.rank(p, answers, random.Random(f"{cfg.seed}:rank2:{p.id}")).ranks)
            else:
                second.append(None)
        bar.update(len(chunk))
    bar.close()

    path = out / "rankings.jsonl"
    write_jsonl(path, [r.to_dict() for r in rankings])
    summary = {"policy": cfg.policy, "k": cfg.k, "temperature": cfg.temperature, "num_prompts": len(items),
               "unknown_prompts_skipped": unknown, "empty_answers_dropped": empty,
               **summarize(rankings, skipped, gold, second, ended),
               "seconds": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    print(f"rank: {summary['num_rankings']} rankings ({skipped} without a pair skipped, {empty} empty answers "
          f"dropped), mean K {summary['mean_k']:.2f}, "
          f"{summary['strict_pairs']} pairs, {summary['tied_pairs']} tied pairs; gold score {summary['gold_score_mean']:.3f}; "
          f"labeler-gold agreement {pct(summary['labeler_gold_agreement'])}, inter-labeler "
          f"{pct(summary['inter_labeler_agreement'])}; wrote {path}")
    return path


def _fewshot_answers(cfg: RankConfig, world, items, params: SamplingParams) -> dict[str, list[str]]:
    """``fewshot_answers`` answers per prompt from the base model, cut where the world's few-shot format ends."""
    from kaizen.world.world import FEW_SHOT_STOPS

    device = default_device()
    tok = load_tokenizer(cfg.fewshot_policy, trust_remote_code=cfg.trust_remote_code)
    base = load_causal_lm(cfg.fewshot_policy, dtype=resolve_precision(cfg.precision, device),
                          trust_remote_code=cfg.trust_remote_code).to(device)
    texts = [world.format_few_shot(p, 3) for p in items for _ in range(cfg.fewshot_answers)]
    gens = generate(base, tok, texts, params, batch_size=cfg.batch_size, seed=cfg.seed * 7_777_777 + 1,
                    stop_strings=FEW_SHOT_STOPS)
    n = cfg.fewshot_answers
    return {p.id: [g.text for g in gens[i * n:(i + 1) * n]] for i, p in enumerate(items)}


def main(argv: list[str]) -> int:
    run(parse_config(RankConfig, argv, prog="kaizen rank"))
    return 0
