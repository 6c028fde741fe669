"""The web chat's API: conversations as message trees, streaming answers, regenerate, ratings.

An answer is stored when it is finished (``done`` event) or, if the client closes the stream
(a Stop button), with what was generated so far and ``finish_reason: "cancelled"``.

A prompting strategy (the ``kaizen`` field, as on /v1/chat/completions, or the server's default)
answers through ``kaizen.prompting.serve.answer``; the message keeps its record, reasoning
included, in ``meta.kaizen``. A strategy's answer exists only when it is done, so its stream is
``thinking`` then one ``delta``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from kaizen.prompting import serve as prompting
from kaizen.serve import store
from kaizen.serve.auth import Principal, require
from kaizen.serve.db import Conversation, Message, new_id
from kaizen.serve.edge import MAX_TOKENS_MAX, Limit, Offset
from kaizen.serve.engine import SEED_MAX, SamplingParams
from kaizen.serve.errors import APIError
from kaizen.serve.filters import FilterContext, Refusal
from kaizen.serve.runtime import ServerState, apply_request_filters, chat_prompt, collect, state_of, unless_disconnected

router = APIRouter(prefix="/api", tags=["chat"])
STRICT = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)
user_required = require("user")


class NewConversation(BaseModel):
    model_config = STRICT
    title: str = Field("", max_length=200)
    system_prompt: str = ""
    model: str | None = None  # which served model the chat starts with (GET /v1/models); default: the first


class ConversationPatch(BaseModel):
    model_config = STRICT
    title: str | None = Field(None, max_length=200)
    system_prompt: str | None = None


class GenerationOptions(BaseModel):
    model_config = STRICT
    # a prompting strategy, the keys of StrategySpec as in /v1's "kaizen" field; null: plain sampling
    # even where the server has a default strategy
    kaizen: dict | None = None
    stream: bool = True
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_MAX)
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    model: str | None = Field(None, max_length=200)  # a served model's name (GET /v1/models); default: the first


class SendMessage(GenerationOptions):
    content: str = Field(min_length=1)
    parent_id: str | None = None
    role: Literal["user", "assistant"] = "user"
    generate: bool = True


class Regenerate(GenerationOptions):
    parent_id: str


class RatingBody(BaseModel):
    model_config = STRICT
    value: Literal[1, -1]
    reason: str | None = Field(None, max_length=4000)


@router.get("/conversations")
def list_conversations(request: Request, limit: Limit = 50, offset: Offset = 0, who: Principal = Depends(user_required)):
    with state_of(request).db.reader() as s:
        rows = store.list_conversations(s, who.user_id, min(max(limit, 1), 500), max(offset, 0))
        return {"conversations": [store.conversation_dict(c) for c in rows]}


@router.post("/conversations")
def create_conversation(request: Request, body: NewConversation | None = None, who: Principal = Depends(user_required)):
    body = body or NewConversation()
    state = state_of(request).for_model(body.model)
    with state.db.session() as s:
        c = Conversation(user_id=who.user_id, title=body.title, system_prompt=body.system_prompt,
                         model=state.engine.model_name, deleted=False)
        s.add(c)
        s.flush()
        return {"conversation": store.conversation_dict(c, [])}


@router.get("/conversations/{conversation_id}")
def get_conversation(conversation_id: str, request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.reader() as s:
        return {"conversation": store.full_conversation(s, store.get_conversation(s, conversation_id, who.user_id))}


@router.patch("/conversations/{conversation_id}")
def patch_conversation(conversation_id: str, body: ConversationPatch, request: Request,
                       who: Principal = Depends(user_required)):
    with state_of(request).db.session() as s:
        c = store.get_conversation(s, conversation_id, who.user_id)
        if body.title is not None:
            c.title = body.title
        if body.system_prompt is not None:
            c.system_prompt = body.system_prompt
        return {"conversation": store.conversation_dict(c)}


@router.delete("/conversations/{conversation_id}")
def delete_conversation(conversation_id: str, request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.session() as s:
        store.get_conversation(s, conversation_id, who.user_id).deleted = True
    return {"ok": True}


@router.get("/conversations/{conversation_id}/export")
def export_conversation(conversation_id: str, request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.reader() as s:
        data = store.full_conversation(s, store.get_conversation(s, conversation_id, who.user_id))
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="conversation-{conversation_id}.json"'})


@router.get("/me/export")
def export_mine(request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.reader() as s:
        return {"conversations": [store.full_conversation(s, c) for c in store.list_conversations(s, who.user_id, 10**9, 0)]}


@router.post("/conversations/{conversation_id}/messages")
async def send_message(conversation_id: str, body: SendMessage, request: Request, who: Principal = Depends(user_required)):
    state = state_of(request).for_model(body.model)  # tokenized with the model that will answer
    ctx = FilterContext(who.name, "chat", state.engine.model_name)

    def load() -> list[dict]:
        with state.db.reader() as s:
            c = store.get_conversation(s, conversation_id, who.user_id)
            parent = s.get(Message, body.parent_id) if body.parent_id else None
            path = store.path_to(s, parent) if parent is not None and parent.conversation_id == c.id else []
            return store.prompt_of(c, path) + [{"role": body.role, "content": body.content}]

    def save():
        with state.db.session() as s:
            c = store.get_conversation(s, conversation_id, who.user_id)
            source = "human" if body.role == "assistant" else "user"
            return store.message_dict(store.add_message(s, c, body.parent_id, body.role, body.content, source))

    generating = body.role == "user" and body.generate
    if generating:  # a prompt the model cannot take is refused before its message is stored
        filtered, ids = await run_in_threadpool(_prepare, state, await run_in_threadpool(load), ctx)
    user_message = await run_in_threadpool(save)
    if body.role == "assistant":  # an answer the user wrote: stored as is, nothing to generate
        return {"user_message": None, "message": user_message}
    if not generating:
        return {"user_message": user_message, "message": None}
    return await _answer(request, state, who, conversation_id, user_message["id"], filtered, ids, body, user_message, ctx)


@router.post("/conversations/{conversation_id}/regenerate")
async def regenerate(conversation_id: str, body: Regenerate, request: Request, who: Principal = Depends(user_required)):
    state = state_of(request).for_model(body.model)  # tokenized with the model that will answer
    ctx = FilterContext(who.name, "chat", state.engine.model_name)

    def load():
        with state.db.reader() as s:
            c = store.get_conversation(s, conversation_id, who.user_id)
            parent = store.get_message(s, body.parent_id, who.user_id)
            if parent.conversation_id != c.id or parent.role != "user":
                raise APIError(400, "parent_id must be a user message of this conversation", param="parent_id")
            return store.prompt_of(c, store.path_to(s, parent))

    filtered, ids = await run_in_threadpool(_prepare, state, await run_in_threadpool(load), ctx)
    return await _answer(request, state, who, conversation_id, body.parent_id, filtered, ids, body, None, ctx)


def _prepare(state: ServerState, prompt: list[dict], ctx: FilterContext) -> tuple[list[dict] | Refusal, list[int]]:
    """The filtered prompt and its token ids (a 400 if too long); blocking, so run in a worker thread."""
    filtered = apply_request_filters(state, prompt, ctx)
    return filtered, (chat_prompt(state, filtered, param="content") if not isinstance(filtered, Refusal) else [])


@router.get("/strategies")
def strategies(request: Request, who: Principal = Depends(user_required)):
    """What the chat's strategy picker offers: the strategies this server can run and its default."""
    cfg = state_of(request).cfg.prompting
    return {"strategies": prompting.available(cfg), "default": cfg.strategy, "max_samples": cfg.max_samples}


def _strategy(state: ServerState, opts: GenerationOptions):
    """The answer's StrategySpec (a 400 naming the field if it is bad), or None for plain sampling."""
    return prompting.request_spec(state, opts) if prompting.wants_strategy(state, opts) else None


async def _answer(request: Request, state: ServerState, who: Principal, conversation_id: str, parent_id: str,
                  filtered: list[dict] | Refusal, ids: list[int], opts: GenerationOptions, user_message: dict | None,
                  ctx: FilterContext):
    """Generate the assistant's answer under ``parent_id``, stream it, store it."""
    state = state.for_model(opts.model)  # one engine for the whole answer, even if the registry swaps
    model = state.engine.model_name
    params = SamplingParams(max_tokens=min(opts.max_tokens or state.cfg.max_new_tokens, state.engine.max_context),
                            temperature=0.7 if opts.temperature is None else opts.temperature,
                            top_p=1.0 if opts.top_p is None else opts.top_p, seed=opts.seed)
    answer_id = new_id()
    spec = _strategy(state, opts)  # a prompting strategy (the "kaizen" field or the server's default)

    def save(text: str, finish: str | None, meta: dict | None = None) -> dict:
        with state.db.session() as s:
            c = store.get_conversation(s, conversation_id, who.user_id)
            m = store.add_message(s, c, parent_id, "assistant", text, "model", model=model, finish_reason=finish,
                                  message_id=answer_id, meta=meta)
            return store.message_dict(m)

    if spec is not None and not isinstance(filtered, Refusal):
        return await _strategy_answer(request, state, who, spec, filtered, ctx, opts, user_message, answer_id,
                                      parent_id, save)

    if not opts.stream:
        if isinstance(filtered, Refusal):
            text, finish = filtered.message, "content_filter"
        else:
            out = await unless_disconnected(request, collect(state, ids, params))
            text, finish = state.filters.on_response(out.text, filtered, ctx), out.finish_reason
        return {"user_message": user_message, "message": await run_in_threadpool(save, text, finish)}

    async def events():
        if user_message is not None:
            yield _event({"type": "user_message", "message": user_message})
        yield _event({"type": "start", "id": answer_id, "parent_id": parent_id})
        text, finish, stored = "", None, False
        try:
            if isinstance(filtered, Refusal):
                text, finish = filtered.message, "content_filter"
                yield _event({"type": "delta", "content": text})
            else:
                async with contextlib.aclosing(state.engine.generate(ids, params)) as gen:
                    async for ev in gen:
                        text += ev.text
                        finish = ev.finish_reason or finish
                        if ev.text and not state.filters.response:
                            yield _event({"type": "delta", "content": ev.text})
                if state.filters.response:
                    text = state.filters.on_response(text, filtered, ctx)
                    yield _event({"type": "delta", "content": text})
            message = await run_in_threadpool(save, text, finish)
            stored = True
            yield _event({"type": "done", "message": message})
        except Exception as e:
            yield _event({"type": "error", "error": APIError(500, f"generation failed: {e}", type="server_error").body()["error"]})
        finally:
            if not stored and text and finish is None:  # the client went away mid-answer: keep what it saw
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(save, text, "cancelled")

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _strategy_answer(request, state, who, spec, prompt, ctx, opts, user_message, answer_id, parent_id, save):
    """The answer through a strategy (kaizen.prompting.serve.answer), with its record in ``meta``."""

    async def run(req):
        [a] = await prompting.answer(state, req, spec, prompt, who, ctx, seed=opts.seed)
        return a, {"kaizen": a.kaizen}

    if not opts.stream:
        a, meta = await run(request)
        return {"user_message": user_message, "message": await run_in_threadpool(save, a.content, a.finish_reason, meta)}

    async def events():  # the client closing the stream cancels the run (and so its samples)
        if user_message is not None:
            yield _event({"type": "user_message", "message": user_message})
        yield _event({"type": "start", "id": answer_id, "parent_id": parent_id})
        yield _event({"type": "thinking", "strategy": spec.label})
        try:
            a, meta = await run(None)
            yield _event({"type": "delta", "content": a.content})
            yield _event({"type": "done", "message": await run_in_threadpool(save, a.content, a.finish_reason, meta)})
        except APIError as e:
            yield _event({"type": "error", "error": e.body()["error"]})
        except Exception as e:
            yield _event({"type": "error", "error": APIError(500, f"generation failed: {e}", type="server_error").body()["error"]})

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


@router.post("/messages/{message_id}/choose")
def choose(message_id: str, request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.session() as s:
        m = store.get_message(s, message_id, who.user_id)
        store.choose(s, m)
        return {"message": store.message_dict(m, store.ratings_of(s, [m.id], who.user_id).get(m.id))}


@router.put("/messages/{message_id}/rating")
def rate(message_id: str, body: RatingBody, request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.session() as s:
        m = store.get_message(s, message_id, who.user_id)
        r = store.set_rating(s, m, who.user_id, body.value, body.reason)
        return {"message": store.message_dict(m, r)}


@router.delete("/messages/{message_id}/rating")
def unrate(message_id: str, request: Request, who: Principal = Depends(user_required)):
    with state_of(request).db.session() as s:
        m = store.get_message(s, message_id, who.user_id)
        store.clear_rating(s, m, who.user_id)
        return {"message": store.message_dict(m)}
