"""Generated-knowledge prompting (Liu et al., 2022): the model first writes what it knows, then answers.

    generated_knowledge.run(sampler, conversations, m=1)

Step 1 asks for the facts that bear on the question (``m`` samples; greedy when ``m`` is 1);
step 2 answers the question with those facts placed before it. With ``m`` > 1 each knowledge
text gets its own answer and the most confident one (highest mean per-token log-prob) wins, as
in the paper's selection by highest confidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.prompting.answers import extract_answer, split_answer
from kaizen.prompting.types import Sampler, StrategyResult, as_conversation

KNOWLEDGE_PROMPT = "Write down the facts you know that help to answer this question: {question}"
ANSWER_PROMPT = "Facts: {knowledge}\nQuestion: {question}"


def knowledge_prompt(conversation: Sequence[dict]) -> list[dict]:
    conv = as_conversation(conversation)
    conv[-1] = {"role": "user", "content": KNOWLEDGE_PROMPT.format(question=conv[-1]["content"])}
    return conv


def answer_prompt(conversation: Sequence[dict], knowledge: str) -> list[dict]:
    conv = as_conversation(conversation)
    conv[-1] = {"role": "user", "content": ANSWER_PROMPT.format(knowledge=knowledge.strip(), question=conv[-1]["content"])}
    return conv


def run(sampler: Sampler, conversations: Sequence[Sequence[dict]], m: int = 1, temperature: float = 0.7,
        max_tokens: int = 128, name: str = "generated_knowledge") -> list[StrategyResult]:
    convs = [as_conversation(c) for c in conversations]
    knowledge = sampler.complete([knowledge_prompt(c) for c in convs], n=m,
                                 temperature=0.0 if m == 1 else temperature, max_tokens=max_tokens)
    flat = [(i, k) for i, ks in enumerate(knowledge) for k in ks]
    answers = sampler.complete([answer_prompt(convs[i], k.text) for i, k in flat], n=1, temperature=0.0,
                               max_tokens=max_tokens)
    results = []
    for i in range(len(convs)):
        pairs = [(k, a) for (j, k), [a] in zip(flat, answers) if j == i]
        k, a = max(pairs, key=lambda p: p[1].mean_logprob)
        _, final = split_answer(a.text)
        cost = sum(x.tokens + y.tokens for x, y in pairs)
        results.append(StrategyResult(name, final or a.text, extract_answer(a.text), reasoning=k.text, tokens=cost,
                                      calls=2, finish_reason=a.finish_reason))
    return results
