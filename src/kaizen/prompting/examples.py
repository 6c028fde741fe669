"""The example pool of few-shot prompting, and how examples are chosen from it.

    pool = ExamplePool.from_file("runs/world/sft_reasoning.jsonl", formats=("cot",))
    pool.select(conversation, k=2, how="nearest")     # BM25-nearest questions first

``fixed``: the first ``k`` examples (one prompt for every question, GPT-3's few-shot setting);
``random``: ``k`` drawn with a seed derived from the question (reproducible, different per
question); ``nearest``: the ``k`` whose question is lexically closest by BM25 (Liu et al., 2022,
"What makes good in-context examples": nearer examples help more).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kaizen.prompting.types import Conversation, as_conversation

Selection = Literal["fixed", "random", "nearest"]


@dataclass(frozen=True)
class Example:
    """A worked example: the user turn(s) and the assistant's answer."""

    prompt: tuple[tuple[str, str], ...]  # ((role, content), ...) ending with a user turn
    answer: str

    @property
    def question(self) -> str:
        return self.prompt[-1][1]

    def turns(self) -> Conversation:
        return [{"role": r, "content": c} for r, c in self.prompt if r != "system"] + [
            {"role": "assistant", "content": self.answer}]


class ExamplePool:
    def __init__(self, examples: Sequence[Example]):
        self.examples = list(examples)
        self._index = None

    @classmethod
    def from_rows(cls, rows: Sequence[dict], formats: Sequence[str] | None = None) -> ExamplePool:
        """Rows with ``messages`` ending in an assistant turn (Kaizen's SFT format); a row with a
        ``format`` key is kept only if it is in ``formats`` (when given)."""
        out = []
        for row in rows:
            if formats is not None and row.get("format") not in formats:
                continue
            msgs = as_conversation(row["messages"])
            if len(msgs) < 2 or msgs[-1]["role"] != "assistant" or msgs[-2]["role"] != "user":
                continue
            out.append(Example(tuple((m["role"], m["content"]) for m in msgs[:-1]), msgs[-1]["content"]))
        return cls(out)

    @classmethod
    def from_file(cls, path: str | Path, formats: Sequence[str] | None = None) -> ExamplePool:
        from kaizen.data.jsonl import read_jsonl

        return cls.from_rows([row for _, row in read_jsonl(path)], formats)

    def __len__(self) -> int:
        return len(self.examples)

    def select(self, conversation: Sequence[dict], k: int, how: Selection = "fixed") -> list[Example]:
        """``k`` examples for ``conversation`` (never one whose question is the conversation's own)."""
        question = as_conversation(conversation)[-1]["content"]
        candidates = [e for e in self.examples if e.question != question]
        k = min(k, len(candidates))
        if k <= 0:
            return []
        if how == "fixed":
            return candidates[:k]
        if how == "random":
            seed = int(hashlib.sha256(question.encode()).hexdigest()[:12], 16)
            return random.Random(seed).sample(candidates, k)
        if how == "nearest":
            ranked = self._nearest(question, k + 1)
            return [e for e in ranked if e.question != question][:k]
        raise ValueError(f"example selection must be fixed, random or nearest, not '{how}'")

    def _nearest(self, question: str, k: int) -> list[Example]:
        import bm25s

        if self._index is None:
            self._index = bm25s.BM25()
            self._index.index(bm25s.tokenize([e.question for e in self.examples], show_progress=False),
                              show_progress=False)
        tokens = bm25s.tokenize([question], show_progress=False)
        docs, _ = self._index.retrieve(tokens, k=min(k, len(self.examples)), show_progress=False)
        return [self.examples[int(d)] for d in docs[0]]


def with_examples(conversation: Sequence[dict], examples: Sequence[Example]) -> Conversation:
    """The examples as earlier user/assistant turns, after the system message and before the conversation."""
    conv = as_conversation(conversation)
    head = [m for m in conv[:1] if m["role"] == "system"]
    shots = [turn for e in examples for turn in e.turns()]
    return head + shots + conv[len(head):]
