"""Zero-shot: the conversation as it is, one greedy answer (the baseline every strategy is measured against)."""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.prompting.answers import extract_answer
from kaizen.prompting.types import Sampler, StrategyResult, as_conversation


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], max_tokens: int = 128,
        name: str = "zero_shot") -> list[StrategyResult]:
    outs = sampler.complete([as_conversation(c) for c in conversations], n=1, temperature=0.0, max_tokens=max_tokens)
    return [StrategyResult(name, c.text, extract_answer(c.text), tokens=c.tokens, calls=1, finish_reason=c.finish_reason)
            for [c] in outs]
