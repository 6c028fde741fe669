"""Chain-of-thought: reason step by step, then answer; the answer is read from the closing phrase.

    cot.run(sampler, conversations)                      # zero-shot CoT (Kojima et al., 2022)
    cot.run(sampler, conversations, pool=pool, k=2)      # few-shot CoT (Wei et al., 2022)

Zero-shot CoT appends the trigger "Let's think step by step." to the question; few-shot CoT puts
worked examples with their reasoning before it as well. The message shown to the user is the
answer sentence ("The answer is 23."), the reasoning goes beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.prompting.answers import extract_answer, split_answer
from kaizen.prompting.examples import ExamplePool, Selection, with_examples
from kaizen.prompting.types import Completion, Sampler, StrategyResult, as_conversation

TRIGGER = "Let's think step by step."


def with_trigger(conversation: Sequence[dict], trigger: str = TRIGGER) -> list[dict]:
    conv = as_conversation(conversation)
    last = conv[-1]
    if trigger and not last["content"].rstrip().endswith(trigger):
        conv[-1] = {"role": last["role"], "content": f"{last['content'].rstrip()} {trigger}"}
    return conv


def build(conversation: Sequence[dict], pool: ExamplePool | None = None, k: int = 0, how: Selection = "fixed",
          trigger: str = TRIGGER) -> list[dict]:
    conv = with_trigger(conversation, trigger)
    if pool is not None and k > 0:
        conv = with_examples(conv, pool.select(conversation, k, how))
    return conv


def result(name: str, c: Completion, calls: int = 1) -> StrategyResult:
    reasoning, final = split_answer(c.text)
    return StrategyResult(name, final or c.text, extract_answer(c.text), reasoning=reasoning or None,
                          tokens=c.tokens, calls=calls, finish_reason=c.finish_reason)


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], pool: ExamplePool | None = None, k: int = 0,
        how: Selection = "fixed", max_tokens: int = 128, trigger: str = TRIGGER, name: str = "cot") -> list[StrategyResult]:
    prompts = [build(c, pool, k, how, trigger) for c in conversations]
    outs = sampler.complete(prompts, n=1, temperature=0.0, max_tokens=max_tokens)
    return [result(name, c) for [c] in outs]
