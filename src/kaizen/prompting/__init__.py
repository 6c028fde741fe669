"""Prompting strategies and test-time scaling, one module per strategy, shared by the server and eval.

    from kaizen.prompting import HFSampler, StrategySpec, Toolkit, run_strategy
    sampler = HFSampler.load("runs/sft/model")
    [r] = run_strategy(StrategySpec.parse("self_consistency@8"), sampler, [[{"role": "user", "content": q}]])
    r.text, r.answer, r.reasoning, r.candidates, r.tokens

| module | strategy |
|---|---|
| ``zero_shot`` | the question as it is |
| ``few_shot`` | k examples from a pool (fixed, random, BM25-nearest: ``examples``) |
| ``cot`` | chain of thought: zero-shot trigger or worked examples; answer extraction (``answers``) |
| ``self_consistency`` | N chains of thought, majority vote, ties by mean log-prob |
| ``generated_knowledge`` | the model writes the facts it knows, then answers with them |
| ``react`` | Thought / Action / Observation with a calculator and BM25 search (``tools``) |
| ``best_of_n`` | N samples reranked by a reward model |

Every strategy talks to a ``Sampler`` (``types``): ``HFSampler`` (``sampler``) for a local model,
``serve.EngineSampler`` for the chat server's engine. ``evaluate`` measures them;
``serve`` puts them behind ``/v1/chat/completions`` (the ``kaizen`` body field).
"""

from kaizen.prompting.sampler import HFSampler
from kaizen.prompting.strategy import STRATEGIES, StrategyError, StrategySpec, Toolkit, run_strategy
from kaizen.prompting.types import Candidate, Completion, Sampler, Step, StrategyResult

__all__ = ["STRATEGIES", "Candidate", "Completion", "HFSampler", "Sampler", "Step", "StrategyError", "StrategyResult",
           "StrategySpec", "Toolkit", "run_strategy"]
