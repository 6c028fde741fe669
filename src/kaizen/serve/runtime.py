"""What every route shares: the server's state and the prompt -> engine -> answer helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from fastapi import Request

from kaizen.data.chat import render
from kaizen.serve.auth import LoginGuard, RateLimiter
from kaizen.serve.config import ServeConfig
from kaizen.serve.db import Database
from kaizen.serve.engine import SamplingParams, TokenEvent
from kaizen.serve.errors import APIError
from kaizen.serve.filters import FilterContext, Filters, Refusal


@dataclass
class ServerState:
    cfg: ServeConfig
    db: Database
    engine: object  # TransformersEngine | VLLMEngine: .generate, .tokenizer, .model_name, .max_context
    filters: Filters = field(default_factory=Filters)
    limiter: RateLimiter | None = None
    login_guard: LoginGuard | None = None
    background: set = field(default_factory=set)  # running asyncio tasks (answer generation for labeling)
    others: dict = field(default_factory=dict)  # more served models by name (kaizen serve --models), beside .engine

    @property
    def max_input_tokens(self) -> int:
        return self.cfg.max_input_tokens or self.engine.max_context - 1

    def engines(self) -> dict:
        """Every served model by name, the default (``.engine``, hot-swapped by the registry) first."""
        return {self.engine.model_name: self.engine, **self.others}

    def for_model(self, name: str | None) -> ServerState:
        """This state answering with the model called ``name`` (None: the default); 404 naming the served ones.

        A request keeps the view it got, so a registry swap mid-request never mixes two models.
        """
        engine = self.engine
        if name is not None and name not in (engine.model_name, self.cfg.model):
            if name not in self.others:
                raise APIError(404, f"The model `{name}` does not exist or you do not have access to it "
                                    f"(served: {', '.join(self.engines())}).", param="model", code="model_not_found")
            engine = self.others[name]
        return replace(self, engine=engine)


def state_of(request: Request) -> ServerState:
    return request.app.state.kaizen


def encode(tokenizer, text: str) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and getattr(tokenizer, "add_bos_token", False) and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids


def chat_prompt(state: ServerState, messages: list[dict], param: str = "messages") -> list[int]:
    """Token ids of ``messages`` rendered with the chat template, ready for the assistant's turn.

    Blocking (the tokenizer): call it from a worker thread, not the event loop.
    """
    text = render(state.engine.tokenizer, messages, add_generation_prompt=True)
    check_chars(state, text, param)
    ids = encode(state.engine.tokenizer, text)
    check_length(state, ids, param)
    return ids


_MAX_TOKEN_CHARS: dict[int, int] = {}


def check_chars(state: ServerState, text: str, param: str) -> None:
    """Refuse, without tokenizing, a text too long to fit in any case.

    No token decodes to more characters than its vocabulary entry spells (byte-level and
    SentencePiece pieces map a byte or a character to one symbol); x4 leaves room for
    normalizers that compose characters. So a longer text has more tokens than the limit.
    """
    tok = state.engine.tokenizer
    if id(tok) not in _MAX_TOKEN_CHARS:
        _MAX_TOKEN_CHARS[id(tok)] = max((len(t) for t in tok.get_vocab()), default=1)
    if len(text) > 4 * _MAX_TOKEN_CHARS[id(tok)] * state.max_input_tokens:
        raise APIError(400, f"This model's maximum input length is {state.max_input_tokens} tokens. However, your "
                            f"{param} has {len(text)} characters, more than that many tokens can hold. "
                            "Please reduce the length.", param=param, code="context_length_exceeded")


def check_length(state: ServerState, ids: list[int], param: str) -> None:
    if len(ids) > state.max_input_tokens:
        raise APIError(400, f"This model's maximum input length is {state.max_input_tokens} tokens. However, your "
                            f"{param} resulted in {len(ids)} tokens. Please reduce the length.",
                       param=param, code="context_length_exceeded")


def apply_request_filters(state: ServerState, messages: list[dict], ctx: FilterContext) -> list[dict] | Refusal:
    try:
        return state.filters.on_request([dict(m) for m in messages], ctx)
    except Refusal as r:
        return r


@dataclass
class Completion:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    events: list[TokenEvent] = field(default_factory=list)  # kept when log-probs were asked for


async def collect(state: ServerState, ids: list[int], params: SamplingParams) -> Completion:
    out = Completion(prompt_tokens=len(ids))
    async for ev in state.engine.generate(ids, params):
        out.text += ev.text
        out.completion_tokens = ev.completion_tokens
        if params.logprobs is not None and ev.token_id is not None:
            out.events.append(ev)
        if ev.finish_reason:
            out.finish_reason = ev.finish_reason
    return out


async def unless_disconnected(request: Request, coro):
    """Await ``coro``, cancelling it (and so its generation) if the client goes away."""
    task = asyncio.ensure_future(coro)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.1)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                raise APIError(499, "client closed the request")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def merged(streams: list[AsyncIterator]) -> AsyncIterator[tuple[int, object]]:
    """Interleave several async iterators as (index, item), in arrival order; closes them all at the end."""
    if len(streams) == 1:  # the common case needs no tasks
        async for item in streams[0]:
            yield 0, item
        return
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump(i, it):
        try:
            async for item in it:
                await queue.put((i, item))
        except Exception as e:  # surfaced to the consumer below
            await queue.put((i, e))
        finally:
            await queue.put((i, done))

    tasks = [asyncio.ensure_future(pump(i, it)) for i, it in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            i, item = await queue.get()
            if item is done:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield i, item
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
