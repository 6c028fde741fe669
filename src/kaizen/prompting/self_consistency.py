"""Self-consistency (Wang et al., 2023): sample N chains of thought, vote over their final answers.

    self_consistency.run(sampler, conversations, n=8, temperature=0.7)
    vote(candidates)  # the majority answer; ties go to the answer whose samples have the higher
                      # mean per-token log-probability

Samples without an extractable answer do not vote. ``vote`` is pure, so evaluation measures
accuracy at N = 1, 2, 4, ... from subsets of one set of samples (the test-time scaling curve).
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.prompting import cot
from kaizen.prompting.answers import extract_answer, normalize_answer, split_answer
from kaizen.prompting.examples import ExamplePool, Selection
from kaizen.prompting.types import Candidate, Completion, Sampler, StrategyResult


def candidate(c: Completion) -> Candidate:
    return Candidate(c.text, normalize_answer(extract_answer(c.text)), c.tokens, c.mean_logprob)


def vote(candidates: Sequence[Candidate]) -> tuple[Candidate, dict[str, int]]:
    """(the representative sample of the winning answer, votes per answer).

    Winner: most votes; tie: the higher mean over its samples of the mean per-token log-prob.
    The representative is the winner's most probable sample. With no answer at all, the most
    probable sample is returned.
    """
    if not candidates:
        raise ValueError("vote needs at least one candidate")
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        if c.answer:
            groups.setdefault(c.answer, []).append(c)
    votes = {a: len(g) for a, g in groups.items()}
    if not groups:
        return max(candidates, key=lambda c: c.mean_logprob), votes
    best = max(groups, key=lambda a: (len(groups[a]), sum(c.mean_logprob for c in groups[a]) / len(groups[a])))
    return max(groups[best], key=lambda c: c.mean_logprob), votes


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], n: int = 8, temperature: float = 0.7,
        pool: ExamplePool | None = None, k: int = 0, how: Selection = "fixed", max_tokens: int = 128,
        name: str = "self_consistency") -> list[StrategyResult]:
    prompts = [cot.build(c, pool, k, how) for c in conversations]
    outs = sampler.complete(prompts, n=n, temperature=temperature, max_tokens=max_tokens)
    results = []
    for samples in outs:
        cands = [candidate(c) for c in samples]
        chosen, votes = vote(cands)
        reasoning, final = split_answer(chosen.text)
        tally = ", ".join(f"{a}: {v}" for a, v in sorted(votes.items(), key=lambda x: -x[1]))
        note = f"{len(cands)} samples; votes: {tally or 'no answer'}"
        results.append(StrategyResult(name, final or chosen.text, extract_answer(chosen.text),
                                      reasoning="\n".join(x for x in (reasoning, note) if x),
                                      candidates=cands, tokens=sum(c.tokens for c in samples), calls=1,
                                      finish_reason="stop"))
    return results
