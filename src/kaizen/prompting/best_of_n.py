"""Best-of-N: sample N answers, keep the one the reward model scores highest (rejection sampling).

    best_of_n.run(sampler, conversations, scorer=load_reward_model("runs/rm/model"), n=8)

The RM sees each candidate as the answer to the *original* conversation, as in training. All N
candidates come back with their scores: the server can store them as a ranking task for
labelers, so test-time compute also feeds the next round's data.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.prompting.answers import extract_answer, normalize_answer
from kaizen.prompting.types import Candidate, Sampler, Scorer, StrategyResult, as_conversation


def rerank(candidates: Sequence[Candidate]) -> Candidate:
    """The highest-scoring candidate (first on a tie)."""
    if not candidates:
        raise ValueError("rerank needs at least one candidate")
    return max(candidates, key=lambda c: c.score if c.score is not None else float("-inf"))


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], scorer: Scorer, n: int = 8,
        temperature: float = 1.0, max_tokens: int = 128, name: str = "best_of_n") -> list[StrategyResult]:
    convs = [as_conversation(c) for c in conversations]
    outs = sampler.complete(convs, n=n, temperature=temperature, max_tokens=max_tokens)
    scores = scorer.score([c for c, samples in zip(convs, outs) for _ in samples], [s.text for samples in outs for s in samples])
    results, i = [], 0
    for samples in outs:
        cands = []
        for s in samples:
            cands.append(Candidate(s.text, normalize_answer(extract_answer(s.text)), s.tokens, s.mean_logprob, scores[i]))
            i += 1
        best = rerank(cands)
        results.append(StrategyResult(name, best.text, extract_answer(best.text),
                                      reasoning=f"best of {len(cands)} by the reward model (score {best.score:.3f})",
                                      candidates=sorted(cands, key=lambda c: -(c.score or 0.0)),
                                      tokens=sum(s.tokens for s in samples), calls=1))
    return results
