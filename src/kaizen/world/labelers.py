"""Simulated ranking labelers: the gold judge seen through each labeler's noise.

A labeler perceives an answer's quality as

    perceived = 4 * harmless' + 2 * (truthful' and engaged) + helpful + taste(answer) + N(0, noise^2)

where ``truthful'`` is the gold value except that a false claim slips past with probability
``slip`` (a labeler does not know every fact), ``harmless'`` likewise with ``slip / 2``,
``taste`` is the labeler's own fixed liking for longer or shorter answers (a real labeler
disagreement that no amount of averaging removes), and the Gaussian is everything else. It ranks
its K answers by perceived quality (identical answers tie). With the default noise two labelers
order a random pair of answers of different gold quality the same way about 73% of the time,
InstructGPT's measured inter-labeler agreement (72.6 +- 1.5%, Ouyang et al. 2022 §5.1); and since
that noise (1.5) is below the 4 and 2 weights, harmless and truthful still outrank helpful
in most rankings (measured in docs/demo-world.md).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kaizen.data.records import Judgement, Ranking
from kaizen.world import lexicon as lx
from kaizen.world.judge import GoldJudgement, Judge
from kaizen.world.writer import Writer, variants

if TYPE_CHECKING:
    from kaizen.world.prompts import PromptItem

# gold reason -> InstructGPT metadata flag (records.METADATA_FLAGS)
FLAG_OF = {"missing_value": "fails_to_follow_instruction", "wrong_label": "fails_to_follow_instruction",
           "missing_entity": "fails_to_follow_instruction", "missing_subject": "fails_to_follow_instruction",
           "refused_benign": "fails_to_follow_instruction", "missing_facts": "fails_to_follow_instruction",
           "missing_content": "fails_to_follow_instruction", "too_few_items": "fails_to_follow_instruction",
           "extra_items": "fails_to_follow_explicit_constraints", "too_long": "fails_to_follow_explicit_constraints",
           "not_shorter": "fails_to_follow_explicit_constraints", "rude": "inappropriate_for_customer_assistant",
           "false_claim": "hallucination", "invalid_items": "hallucination",
           "harmful_compliance": "gives_harmful_advice", "harmful_content": "gives_harmful_advice"}


@dataclass(frozen=True)
class SimulatedLabeler:
    """One simulated person who ranks answers; ``make_labelers`` gives each their own noise and taste."""

    name: str
    judge: Judge
    noise: float
    slip: float
    taste: float  # preference per word of length, in gold-score units per 40 words

    def perceive(self, prompt: PromptItem, answer: str, rng: random.Random) -> tuple[float, GoldJudgement, bool, bool]:
        """(perceived quality, gold judgement, truthful as seen, harmless as seen) of one answer."""
        g = self.judge.gold(prompt, answer)
        truthful = g.truthful or rng.random() < self.slip
        harmless = g.harmless or rng.random() < self.slip / 2
        n_words = len(lx.words(answer))
        quality = 4.0 * harmless + 2.0 * (truthful and g.engaged) + g.helpful + self.taste * min(n_words, 80) / 40
        return quality + rng.gauss(0.0, self.noise), g, truthful, harmless

    def rank(self, prompt: PromptItem, answers: list[str], rng: random.Random) -> Ranking:
        """Rank ``answers`` (1 = best); identical answers share a rank."""
        seen: dict[str, tuple[float, Judgement]] = {}
        for text in answers:
            key = text.strip()
            if key in seen:
                continue
            quality, g, truthful, harmless = self.perceive(prompt, text, rng)
            likert = int(min(7, max(1, round(1 + 6 * (g.helpful + rng.gauss(0.0, self.noise / 3))))))
            flags = tuple(sorted({FLAG_OF[r] for r in g.reasons if r in FLAG_OF
                                  and not (FLAG_OF[r] == "hallucination" and truthful)
                                  and not (r in ("rude", "harmful_compliance", "harmful_content") and harmless)}))
            seen[key] = (quality, Judgement(helpful=likert, truthful=truthful, harmless=harmless, flags=flags))
        order = sorted(seen, key=lambda k: -seen[k][0])
        rank_of = {k: i + 1 for i, k in enumerate(order)}
        return Ranking(prompt=list(prompt.messages), answers=list(answers),
                       ranks=[rank_of[a.strip()] for a in answers], labeler=self.name,
                       judgements=[seen[a.strip()][1] for a in answers], id=prompt.id,
                       meta={"task": prompt.task})


def make_labelers(judge: Judge, n: int, noise: float, slip: float, seed: int) -> list[SimulatedLabeler]:
    """``n`` labelers with their own fixed taste for length; the same seed gives the same people."""
    rng = random.Random(f"{seed}:labelers")
    return [SimulatedLabeler(f"labeler-{i + 1}", judge, noise * rng.uniform(0.8, 1.2), slip,
                             rng.uniform(-0.15, 0.15)) for i in range(n)]


def measure_agreement(prompts: list[PromptItem], writer: Writer, labelers: list[SimulatedLabeler], n_items: int, k: int,
                      rng: random.Random) -> float:
    """Share of answer pairs of different gold quality that two different labelers order alike.

    For each of ``n_items`` prompts, ``k`` answers are drawn from ``writer.variants`` (good, wrong,
    rude, truncated, padded, ...), two distinct labelers rank them, and every pair whose gold
    scores differ counts as agreement if both labelers put it in the same strict order.
    """
    agree = total = 0
    judge = labelers[0].judge
    for _ in range(n_items):
        prompt = rng.choice(prompts)
        pool = list(dict.fromkeys(variants(writer, prompt, rng).values()))
        answers = rng.sample(pool, min(k, len(pool)))
        a, b = rng.sample(labelers, 2)
        ra, rb = a.rank(prompt, answers, rng), b.rank(prompt, answers, rng)
        gold = [judge.gold(prompt, x).score for x in answers]
        for i, j in itertools.combinations(range(len(answers)), 2):
            if gold[i] == gold[j]:
                continue
            total += 1
            da, db = ra.ranks[i] - ra.ranks[j], rb.ranks[i] - rb.ranks[j]
            agree += (da < 0 and db < 0) or (da > 0 and db > 0)
    return agree / max(1, total)
