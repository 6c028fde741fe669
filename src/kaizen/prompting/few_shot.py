"""Few-shot: ``k`` worked examples from a pool as earlier turns, then the question (Brown et al., 2020).

    few_shot.run(sampler, conversations, pool, k=3, how="nearest")
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.prompting import zero_shot
from kaizen.prompting.examples import ExamplePool, Selection, with_examples
from kaizen.prompting.types import Sampler, StrategyResult


def build(conversation: Sequence[dict], pool: ExamplePool, k: int, how: Selection = "fixed") -> list[dict]:
    return with_examples(conversation, pool.select(conversation, k, how))


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], pool: ExamplePool, k: int = 3,
        how: Selection = "fixed", max_tokens: int = 128) -> list[StrategyResult]:
    prompts = [build(c, pool, k, how) for c in conversations]
    return zero_shot.run(sampler, prompts, max_tokens, name="few_shot")
