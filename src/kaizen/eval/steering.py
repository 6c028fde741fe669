"""Does the reward model steer? Its accuracy three ways, and best-of-N of a policy's samples by it.

A reward model is only as useful as the order it puts on the answers PPO will produce. Two views:

- **Accuracy on held-out rankings, three ways** (on the labelers' strict pairs):
  ``vs_labelers``: the RM orders the pair like the labeler; ``vs_gold``: on the pairs where the
  gold judge has a strict preference, the RM orders them like the gold judge; ``ceiling``: the
  gold judge's own accuracy against the labelers on the same pairs, a gold tie counting 1/2 (a
  coin flip between answers it finds equal). Labelers are noisy, so an RM that learnt exactly
  what the gold judge prefers would score about ``ceiling`` against them, not 1.
  Each also per criterion (helpful / truthful / harmless): the pairs whose labeler judgements
  differ on that criterion.
- **Best-of-N**: N samples of the policy per held-out prompt (temperature 1); the RM's favourite
  against the policy's greedy answer, by the gold judge (win rate, ties 1/2, 95% CI). The gold
  judge's own favourite and a random sample are the reference points (an RM that steers sits
  between the two, near the first).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from kaizen.eval.metrics import mean_ci95

CRITERIA = ("helpful", "truthful", "harmless")


def _order(a: float, b: float) -> int:
    return (a > b) - (a < b)


def accuracy_three_ways(rankings: Sequence, rm_scores: Sequence[Sequence[float]],
                        gold_scores: Sequence[Sequence[float]]) -> dict:
    """``rankings``: ``Ranking`` rows (``ranks``: lower is better; ``judgements`` optional);
    ``rm_scores`` / ``gold_scores``: one score per answer of each ranking. An RM score tie counts
    as wrong (as in the RM's own eval); a gold tie counts 1/2 in ``ceiling``. Returns ``{"vs_labelers", "vs_gold", "ceiling", "pairs",
    "gold_pairs", "per_criterion": {c: {...same keys...}}}``; an accuracy with no pair is None."""
    groups = {"all": [0, 0, 0, 0, 0]} | {c: [0, 0, 0, 0, 0] for c in CRITERIA}
    for r, rm, gold in zip(rankings, rm_scores, gold_scores, strict=True):
        for i, j in itertools.combinations(range(r.k), 2):
            if r.ranks[i] == r.ranks[j]:
                continue
            better, worse = (i, j) if r.ranks[i] < r.ranks[j] else (j, i)
            crits = ["all"]
            if r.judgements is not None:
                crits += [c for c in CRITERIA if getattr(r.judgements[i], c) is not None
                          and getattr(r.judgements[i], c) != getattr(r.judgements[j], c)]
            gold_order = _order(gold[better], gold[worse])
            for c in crits:
                g = groups[c]
                g[0] += 1
                g[1] += rm[better] > rm[worse]
                g[2] += 1.0 if gold_order > 0 else 0.5 if gold_order == 0 else 0.0
                if gold_order != 0:  # gold strictly prefers one: does the RM agree with gold?
                    g[3] += 1
                    g[4] += _order(rm[better], rm[worse]) == gold_order

    def summary(g):
        pairs, rm_hits, gold_hits, gold_pairs, rm_gold_hits = g
        return {"vs_labelers": rm_hits / pairs if pairs else None,
                "vs_gold": rm_gold_hits / gold_pairs if gold_pairs else None,
                "ceiling": gold_hits / pairs if pairs else None, "pairs": pairs, "gold_pairs": gold_pairs}

    out = summary(groups["all"])
    out["per_criterion"] = {c: summary(groups[c]) for c in CRITERIA}
    return out


def best_of_n(rm_scores: Sequence[Sequence[float]], gold_scores: Sequence[Sequence[float]],
              greedy_gold: Sequence[float], seed: int = 0) -> dict:
    """Per prompt: N samples' RM and gold scores, and the greedy answer's gold score. Win rates
    against greedy (ties 1/2) of the RM's favourite, the gold judge's favourite and a random
    sample, each with a 95% CI; ``n`` the samples per prompt."""
    rng = random.Random(seed)
    picks = {"rm": [], "gold": [], "random": []}
    for rm, gold, g0 in zip(rm_scores, gold_scores, greedy_gold, strict=True):
        choice = {"rm": max(range(len(rm)), key=rm.__getitem__), "gold": max(range(len(gold)), key=gold.__getitem__),
                  "random": rng.randrange(len(gold))}
        for k, i in choice.items():
            picks[k].append(1.0 if gold[i] > g0 else 0.0 if gold[i] < g0 else 0.5)
    out = {"n": len(rm_scores[0]) if rm_scores else 0, "prompts": len(rm_scores)}
    for k, outcomes in picks.items():
        mean, ci = mean_ci95(outcomes)
        out[f"{k}_pick_win"] = mean
        out[f"{k}_pick_ci95"] = list(ci)
    return out


def measure(world_dir, policy_path, reward_model_path, heldout_rankings: Sequence, n: int = 8,
            num_prompts: int = 200, max_new_tokens: int = 64, seed: int = 0, precision: str = "fp32") -> dict:
    """Both views on the demo world: ``accuracy`` (on ``heldout_rankings``) and ``best_of_n``
    (``policy_path``'s samples on the first ``num_prompts`` held-out prompts)."""
    from kaizen.generation import SamplingParams, chat_prompt, generate
    from kaizen.models.loading import default_device, load_causal_lm, load_tokenizer, resolve_precision
    from kaizen.reward import load_reward_model
    from kaizen.world import DemoWorld

    world = DemoWorld.load(world_dir)
    rm = load_reward_model(reward_model_path, precision=precision)
    ranked = [(r, world.find_prompt(r.prompt)) for r in heldout_rankings]
    ranked = [(r, p) for r, p in ranked if p is not None]
    rankings = [r for r, _ in ranked]
    rm_scores = [rm.score([r.prompt] * r.k, list(r.answers)) for r in rankings]
    gold_scores = [[world.gold(p, a).score for a in r.answers] for r, p in ranked]
    accuracy = accuracy_three_ways(rankings, rm_scores, gold_scores)

    device = default_device()
    tokenizer = load_tokenizer(str(policy_path))
    model = load_causal_lm(str(policy_path), dtype=resolve_precision(precision, device)).to(device).eval()
    prompts = world.prompts("heldout")[:num_prompts or None]
    texts = [chat_prompt(tokenizer, p.messages) for p in prompts]
    greedy = generate(model, tokenizer, texts, SamplingParams(max_new_tokens, greedy=True), seed=seed)
    samples = generate(model, tokenizer, [t for t in texts for _ in range(n)],
                       SamplingParams(max_new_tokens, temperature=1.0), seed=seed + 1)
    answers = [[g.text for g in samples[i * n:(i + 1) * n]] for i in range(len(prompts))]
    bon = best_of_n([rm.score([p.messages] * n, a) for p, a in zip(prompts, answers)],
                    [[world.gold(p, x).score for x in a] for p, a in zip(prompts, answers)],
                    [world.gold(p, g.text).score for p, g in zip(prompts, greedy)], seed)
    return {"accuracy": accuracy, "best_of_n": bon}
