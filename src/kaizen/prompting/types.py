"""What flows between the sampler, the strategies and their callers (typed containers, no dicts).

    Sampler.complete(conversations, n=8, temperature=0.7) -> list[list[Completion]]
    strategy.run(sampler, conversations, ...)             -> list[StrategyResult]

A *conversation* is a list of ``{"role", "content"}`` dicts (or ``kaizen.data.records.Message``)
ending with a user turn. The sampler renders it with the model's chat template, so the same
strategy code drives a local Hugging Face model (``HFSampler``) and the server's engine
(``kaizen.prompting.serve.EngineSampler``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class Completion:
    """One sampled assistant turn."""

    text: str
    tokens: int  # generated tokens (the cost)
    logprob: float  # summed log-probability of those tokens under the model (temperature 1)
    finish_reason: str = "stop"  # "stop" | "length"

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(self.tokens, 1)


class Sampler(Protocol):
    def complete(self, conversations: Sequence[Sequence[dict]], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int = 128) -> list[list[Completion]]:
        """``n`` completions of each conversation's next assistant turn (temperature 0: greedy)."""
        ...


class Scorer(Protocol):
    """What best-of-N reranks with: ``kaizen.reward.RewardModel`` has this ``score``."""

    def score(self, prompts: Sequence[Sequence[dict]], answers: Sequence[str]) -> list[float]: ...


@dataclass
class Candidate:
    """One sample of a sampling strategy, with what the strategy made of it."""

    text: str
    answer: str  # extracted final answer (normalised for voting)
    tokens: int
    mean_logprob: float
    score: float | None = None  # reward-model score (best-of-N)


@dataclass
class Step:
    """One ReAct step: the model's thought and action, and what the tool returned."""

    thought: str
    action: str  # "search" | "calculate" | "finish" | "" (no parsable action)
    input: str
    observation: str | None = None


@dataclass
class StrategyResult:
    """A strategy's answer to one conversation.

    ``text`` is what the user sees as the assistant message (the final answer); ``reasoning``
    the chain of thought, generated knowledge or vote behind it; ``steps`` the ReAct transcript;
    ``candidates`` the samples a vote or reranking chose from. ``tokens`` counts every
    generated token, ``calls`` every sampler call (the cost of thinking longer).
    """

    strategy: str
    text: str
    answer: str
    reasoning: str | None = None
    steps: list[Step] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    tokens: int = 0
    calls: int = 0
    finish_reason: str = "stop"  # "stop" | "length" | "step_limit"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def transcript(self) -> str:
        """The ReAct steps as plain text (Thought / Action / Observation lines)."""
        lines = []
        for s in self.steps:
            if s.thought:
                lines.append(f"Thought: {s.thought}")
            if s.action:
                lines.append(f"Action: {s.action}[{s.input}]")
            if s.observation is not None:
                lines.append(f"Observation: {s.observation}")
        return "\n".join(lines)


def as_conversation(messages: Sequence[Any]) -> Conversation:
    """Role/content dicts from dicts or ``Message`` objects."""
    return [m.to_dict() if hasattr(m, "to_dict") else {"role": m["role"], "content": m["content"]} for m in messages]
