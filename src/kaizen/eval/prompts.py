"""Evaluation prompts from any prompt-bearing file, or from the demo world.

    prompts = load_prompts("my_prompts.jsonl", num=200)   # any format with a prompt (kaizen.data)
    prompts = world_prompts(world, "heldout", num=200)     # the demo world's, with what its judge needs
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kaizen.data.formats import load_records
from kaizen.data.records import Message


@dataclass(frozen=True)
class EvalPrompt:
    """A conversation ending with a user turn; ``item`` is the demo world's PromptItem when known."""

    id: str
    messages: list[Message] = field(hash=False)
    task: str | None = None
    item: Any = field(default=None, hash=False, compare=False)


def load_prompts(source: str, num: int = 0) -> list[EvalPrompt]:
    """The first ``num`` prompts of ``source`` (0: all), in file order."""
    convs = load_records(source, "prompt")
    if not convs:
        raise ValueError(f"{source}: no prompts")
    convs = convs[:num] if num else convs
    return [EvalPrompt(f"{i}", list(c)) for i, c in enumerate(convs)]


def world_prompts(world, split: str, num: int = 0) -> list[EvalPrompt]:
    items = world.prompts(split)
    items = items[:num] if num else items
    return [EvalPrompt(p.id, list(p.messages), p.task, p) for p in items]


def attach_world(prompts: list[EvalPrompt], world, source: str) -> list[EvalPrompt]:
    """The same prompts with the world's PromptItem attached (the gold judge needs it); unknown ones are an error."""
    out, unknown = [], []
    for i, p in enumerate(prompts):
        item = world.find_prompt(p.messages)
        if item is None:
            unknown.append(i + 1)
        else:
            out.append(EvalPrompt(item.id, p.messages, item.task, item))
    if unknown:
        raise ValueError(f"{source}: prompts {unknown[:10]}{'...' if len(unknown) > 10 else ''} are not prompts of "
                         "the demo world, which the gold judge can only score; drop --world (and the gold judge) or "
                         "give the world's own prompts")
    return out
