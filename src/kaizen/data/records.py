"""Typed records that flow between stages.

Every external format (TRL's, Alpaca, ShareGPT, Kaizen's ranking JSONL) is read into one of these,
and every stage consumes these, never raw dicts:

- ``Message`` / a conversation (``list[Message]``): chat turns, roles system / user / assistant.
- ``Demonstration``: an SFT example; the loss falls on assistant turns only (those not marked
  ``weight: 0``, OpenAI's fine-tuning format for context turns).
- ``PreferencePair``: a prompt with a chosen and a rejected answer (DPO; RM with K = 2).
- ``Ranking``: Kaizen's K-way record (InstructGPT Step 2): one prompt, K = 2..9 answers, a rank
  per answer (1 = best, equal ranks are ties), the labeler, and per-answer judgements on the
  three criteria (helpful, truthful, harmless) plus the paper's metadata flags.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")

MIN_ANSWERS, MAX_ANSWERS = 2, 9  # InstructGPT ranks K = 4..9; K = 2 is plain pairwise data.

# InstructGPT's labeler metadata (Ouyang et al. 2022, Table 3).
METADATA_FLAGS: tuple[str, ...] = (
    "fails_to_follow_instruction",
    "inappropriate_for_customer_assistant",
    "hallucination",
    "fails_to_follow_explicit_constraints",
    "contains_sexual_content",
    "contains_violent_content",
    "encourages_violence_or_abuse",
    "denigrates_protected_class",
    "gives_harmful_advice",
    "expresses_opinion",
    "expresses_moral_judgment",
)


@dataclass(frozen=True)
class Message:
    """One chat turn. ``weight`` follows OpenAI's fine-tuning format: on an assistant turn, 0 means
    context only (no loss), 1 a target; ``None`` (the default) is a target, as in that format."""

    role: Role
    content: str
    weight: int | None = None

    @property
    def is_target(self) -> bool:
        """Whether SFT takes the loss on this turn."""
        return self.role == "assistant" and self.weight != 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.weight is not None:
            out["weight"] = self.weight
        return out


Conversation = list[Message]


def conversation_from_dicts(rows: list[dict[str, Any]]) -> Conversation:
    return [Message(r["role"], r["content"], r.get("weight")) for r in rows]


def conversation_to_dicts(conv: Conversation) -> list[dict[str, Any]]:
    return [m.to_dict() for m in conv]


@dataclass(frozen=True)
class Demonstration:
    """An SFT example: a conversation whose assistant turns are the targets (those with weight 0
    are context only). ``meta`` says where it came from (``kaizen export``: source, models)."""

    messages: Conversation
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": conversation_to_dicts(self.messages)}
        if self.id is not None:
            out["id"] = self.id
        if self.meta:
            out["meta"] = self.meta
        return out


@dataclass(frozen=True)
class PreferencePair:
    """A prompt (conversation ending with a user turn) and two answers, ``chosen`` preferred."""

    prompt: Conversation
    chosen: str
    rejected: str
    id: str | None = None


@dataclass(frozen=True)
class Judgement:
    """One labeler's per-criterion view of one answer.

    ``helpful`` is InstructGPT's 1-7 Likert scale; ``truthful`` and ``harmless`` are the binary
    judgements behind the paper's hallucination / harmful metadata. ``None`` means not judged.
    """

    helpful: int | None = None
    truthful: bool | None = None
    harmless: bool | None = None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "flags"}
        if self.flags:
            out["flags"] = list(self.flags)
        return out


@dataclass(frozen=True)
class Ranking:
    """K answers to one prompt, ranked (1 = best; equal ranks are ties)."""

    prompt: Conversation
    answers: list[str]
    ranks: list[int]
    labeler: str = "unknown"
    judgements: list[Judgement] | None = None
    all_bad: bool = False  # the labeling UI's escape: every answer is unacceptable
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.answers)

    def ordered_pairs(self) -> list[tuple[int, int]]:
        """Every (winner, loser) index pair with a strict rank difference; ties give no pair."""
        return [(i, j) for i, j in itertools.permutations(range(self.k), 2) if self.ranks[i] < self.ranks[j]]

    def to_pairs(self) -> list[PreferencePair]:
        return [
            PreferencePair(self.prompt, self.answers[w], self.answers[l], id=f"{self.id}:{w}>{l}" if self.id else None)
            for w, l in self.ordered_pairs()
        ]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt": conversation_to_dicts(self.prompt),
            "answers": list(self.answers),
            "ranks": list(self.ranks),
            "labeler": self.labeler,
        }
        if self.judgements is not None:
            out["judgements"] = [j.to_dict() for j in self.judgements]
        if self.all_bad:
            out["all_bad"] = True
        if self.id is not None:
            out["id"] = self.id
        if self.meta:
            out["meta"] = self.meta
        return out


def ranking_from_pair(pair: PreferencePair, labeler: str = "unknown") -> Ranking:
    """Plain pairwise data is a K = 2 ranking."""
    return Ranking(pair.prompt, [pair.chosen, pair.rejected], [1, 2], labeler=labeler, id=pair.id)
