"""Where moderation and prompting strategies plug in: filter chains around the model.

The app holds two ordered lists, empty by default. Each request filter sees the chat messages
before they are rendered and may rewrite them (a delimiting or prompting strategy) or refuse
(a moderation classifier); each response filter sees the finished answer and may rewrite it.

    class BlockList:
        def __call__(self, messages, ctx):
            if any("forbidden" in m["content"] for m in messages):
                raise Refusal("I can't help with that.")
            return messages

    kaizen serve runs/sft --request_filters mypkg.filters:BlockList

A refusal becomes the answer (``finish_reason: "content_filter"``) without calling the model.
When response filters exist, a streamed answer is sent as one piece once they have run,
because a filter must see the whole answer before any of it reaches the user.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FilterContext:
    user: str  # the caller's name
    route: str  # "chat" (the UI), "chat.completions" or "completions" (/v1)
    model: str


class Refusal(Exception):
    """Raised by a filter to answer with ``message`` instead of the model."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RequestFilter(Protocol):
    def __call__(self, messages: list[dict], ctx: FilterContext) -> list[dict]: ...


class ResponseFilter(Protocol):
    def __call__(self, text: str, messages: list[dict], ctx: FilterContext) -> str: ...


@dataclass(frozen=True)
class Filters:
    request: tuple[RequestFilter, ...] = ()
    response: tuple[ResponseFilter, ...] = ()

    def on_request(self, messages: list[dict], ctx: FilterContext) -> list[dict]:
        for f in self.request:
            messages = f(messages, ctx)
        return messages

    def on_response(self, text: str, messages: list[dict], ctx: FilterContext) -> str:
        for f in self.response:
            text = f(text, messages, ctx)
        return text


def load(specs: list[str]) -> tuple:
    """Instantiate filters named ``module:callable`` (a class or a factory function)."""
    out = []
    for spec in specs:
        module, _, attr = spec.partition(":")
        if not attr:
            raise ValueError(f"filter '{spec}' must look like package.module:callable")
        out.append(getattr(importlib.import_module(module), attr)())
    return tuple(out)
