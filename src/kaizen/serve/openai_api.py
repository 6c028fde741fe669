"""The OpenAI-compatible API: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``.

Request bodies are validated strictly (a string where a number belongs is a 400 naming the
field); unknown fields are ignored, as many clients send extras. Streams are server-sent events
in OpenAI's chunk format ending in ``data: [DONE]``. Reference:
https://platform.openai.com/docs/api-reference/chat
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from kaizen.data.chat import render
from kaizen.prompting import serve as prompting
from kaizen.serve.auth import Principal, require
from kaizen.serve.edge import ID_MAX, MAX_TOKENS_MAX
from kaizen.serve.engine import SEED_MAX, SamplingParams, check_prompt_ids
from kaizen.serve.errors import APIError
from kaizen.serve.filters import FilterContext, Refusal
from kaizen.serve.runtime import (ServerState, apply_request_filters, chat_prompt, check_chars, check_length, collect,
                                  encode, merged, state_of, unless_disconnected)

router = APIRouter(prefix="/v1", tags=["openai"])
MAX_STOP_CHARS = 512
STRICT = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class TextPart(BaseModel):
    model_config = STRICT
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = STRICT
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def as_dict(self) -> dict:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)
    name: str = Field("response", max_length=64)
    schema_: dict | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = STRICT
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(BaseModel):
    model_config = STRICT
    include_usage: bool = False


class Sampling(BaseModel):
    model_config = STRICT
    model: str
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=16)
    stop: str | list[str] | None = None
    # vLLM's range (a signed 64-bit integer); mapped onto the generator's 0..2**63-1
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    top_k: int | None = Field(None, ge=-1, le=ID_MAX)  # vLLM's extra: -1 or 0 keeps every token
    repetition_penalty: float | None = Field(None, gt=0, le=10)  # vLLM's extra: 1 is none
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = None


class ChatCompletionRequest(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_MAX)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_MAX)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    kaizen: dict | None = None  # prompting strategy, e.g. {"strategy": "self_consistency", "n": 8} (kaizen.prompting.serve)


class CompletionRequest(Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(16, ge=1, le=MAX_TOKENS_MAX)
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool | None = False


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > 4:
        raise APIError(400, "'stop' may have at most 4 sequences.", param="stop")
    if any(len(s) > MAX_STOP_CHARS for s in stops):  # every step matches each stop's prefixes: keep it cheap
        raise APIError(400, f"Each 'stop' sequence may have at most {MAX_STOP_CHARS} characters.", param="stop")
    return stops


def _constraint(state: ServerState, fmt: ResponseFormat | None):
    """The decoding constraint ``response_format`` asks for (None for text); blocking, so call it in a worker thread."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_schema" and (fmt.json_schema is None or fmt.json_schema.schema_ is None):
        raise APIError(400, "response_format of type json_schema needs 'json_schema': {'name': ..., 'schema': {...}}.",
                       param="response_format.json_schema")
    from kaizen.serve.structured import json_constraint

    schema = fmt.json_schema.schema_ if fmt.type == "json_schema" else None
    return json_constraint(state.engine.tokenizer, sorted(state.engine.stop_ids), schema, param="response_format")


def _params(body: Sampling, max_tokens: int, logprobs: int | None, i: int, constraint=None) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=1.0 if body.temperature is None else body.temperature,
                          top_p=1.0 if body.top_p is None else body.top_p, stop=_stops(body.stop),
                          seed=None if body.seed is None else (body.seed + i) % (SEED_MAX + 1), logprobs=logprobs,
                          top_k=max(body.top_k or 0, 0),
                          repetition_penalty=1.0 if body.repetition_penalty is None else body.repetition_penalty,
                          constraint=constraint)


def _token(tokenizer, token_id: int, logprob: float) -> dict:
    text = tokenizer.decode([token_id])
    return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


def _chat_logprobs(tokenizer, events) -> dict:
    return {"content": [{**_token(tokenizer, ev.token_id, ev.logprob),
                         "top_logprobs": [_token(tokenizer, t, lp) for t, lp in ev.top_logprobs or []]} for ev in events]}


def _text_logprobs(tokenizer, events, offset: int) -> dict:
    tokens = [tokenizer.decode([ev.token_id]) for ev in events]
    offsets, pos = [], offset
    for t in tokens:
        offsets.append(pos)
        pos += len(t)
    tops = [{tokenizer.decode([t]): lp for t, lp in ev.top_logprobs or []} for ev in events]
    return {"tokens": tokens, "token_logprobs": [ev.logprob for ev in events],
            "top_logprobs": tops if any(ev.top_logprobs is not None for ev in events) else None, "text_offset": offsets}


def _sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@router.get("/models")
def list_models(request: Request, who: Principal = Depends(require("user"))):
    return {"object": "list", "data": [model_card(e) for e in state_of(request).engines().values()]}


def model_card(engine) -> dict:
    """A /v1/models entry; ``kaizen`` adds where the model came from (its run's kaizen_model.json)."""
    identity = getattr(engine, "identity", None)
    card = {"id": engine.model_name, "object": "model", "created": 0, "owned_by": "kaizen"}
    return card | ({"kaizen": identity.to_dict()} if identity is not None else {})


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request, who: Principal = Depends(require("user"))):
    state = state_of(request).for_model(body.model)  # 404 for a model not served
    n = body.n or 1
    max_tokens = body.max_completion_tokens or body.max_tokens or state.cfg.max_new_tokens
    logprobs = (body.top_logprobs or 0) if body.logprobs else None
    ctx = FilterContext(who.name, "chat.completions", state.engine.model_name)

    def prepare():  # filters and the tokenizer may take a while on a long input: off the event loop
        messages = apply_request_filters(state, [m.as_dict() for m in body.messages], ctx)
        ids = chat_prompt(state, messages) if not isinstance(messages, Refusal) else []
        return messages, ids, _constraint(state, body.response_format)

    messages, ids, constraint = await run_in_threadpool(prepare)
    if not isinstance(messages, Refusal) and prompting.wants_strategy(state, body):
        return await prompting.chat_completion(state, request, body, messages, who, ctx)
    params = [_params(body, max_tokens, logprobs, i, constraint) for i in range(n)]
    head = {"id": "chatcmpl-" + secrets.token_hex(12), "created": int(time.time()), "model": state.engine.model_name}
    tok = state.engine.tokenizer

    if not body.stream:
        if isinstance(messages, Refusal):
            outs = [(messages.message, "content_filter", [], 0)] * n
        else:
            results = await unless_disconnected(request, _gather(state, [(ids, p) for p in params]))
            outs = [(state.filters.on_response(r.text, messages, ctx), r.finish_reason, r.events, r.completion_tokens)
                    for r in results]
        choices = [{"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": _chat_logprobs(tok, events) if logprobs is not None else None, "finish_reason": finish}
                   for i, (text, finish, events, _) in enumerate(outs)]
        return {**head, "object": "chat.completion", "choices": choices,
                "usage": _usage(len(ids), sum(o[3] for o in outs))}

    def chunk(i, delta, finish=None, lp=None):
        return _sse({**head, "object": "chat.completion.chunk",
                     "choices": [{"index": i, "delta": delta, "logprobs": lp, "finish_reason": finish}]})

    async def events():
        for i in range(n):
            yield chunk(i, {"role": "assistant", "content": ""})
        used = 0
        if isinstance(messages, Refusal):
            for i in range(n):
                yield chunk(i, {"content": messages.message})
                yield chunk(i, {}, "content_filter")
        else:
            buffered = [""] * n if state.filters.response else None
            try:
                async for i, ev in merged([state.engine.generate(ids, p) for p in params]):
                    lp = _chat_logprobs(tok, [ev]) if logprobs is not None and ev.token_id is not None else None
                    if buffered is not None:
                        buffered[i] += ev.text
                    elif ev.text or lp:
                        yield chunk(i, {"content": ev.text}, lp=lp)
                    if ev.finish_reason:
                        used += ev.completion_tokens
                        if buffered is not None:
                            yield chunk(i, {"content": state.filters.on_response(buffered[i], messages, ctx)})
                        yield chunk(i, {}, ev.finish_reason)
            except Exception as e:  # headers are sent: report the failure in-band, as OpenAI does
                yield _sse(APIError(500, f"generation failed: {e}", type="server_error").body())
        if body.stream_options and body.stream_options.include_usage:
            yield _sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage(len(ids), used)})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _gather(state: ServerState, jobs: list[tuple[list[int], SamplingParams]]):
    return await asyncio.gather(*[collect(state, ids, p) for ids, p in jobs])


@router.post("/completions")
async def completions(body: CompletionRequest, request: Request, who: Principal = Depends(require("user"))):
    state = state_of(request).for_model(body.model)  # 404 for a model not served
    tok = state.engine.tokenizer
    prompts = body.prompt if isinstance(body.prompt, list) and body.prompt and not isinstance(body.prompt[0], int) else [body.prompt]
    if not prompts or any(len(p) == 0 for p in prompts):
        raise APIError(400, "'prompt' must not be empty.", param="prompt")
    ctx = FilterContext(who.name, "completions", state.engine.model_name)

    def prepare(p):
        if not isinstance(p, str):
            try:
                check_prompt_ids(p, state.engine.vocab_size)
            except ValueError as e:
                raise APIError(400, f"Invalid value for 'prompt': {e}.", param="prompt") from None
        text = p if isinstance(p, str) else tok.decode(p)
        if state.filters.request:
            filtered = apply_request_filters(state, [{"role": "user", "content": text}], ctx)
            if isinstance(filtered, Refusal):
                raise APIError(400, filtered.message, param="prompt", code="content_filter")
            text, p = filtered[-1]["content"], filtered[-1]["content"]
        if isinstance(p, str):
            check_chars(state, p, "prompt")
        ids = encode(tok, p) if isinstance(p, str) else list(p)
        check_length(state, ids, "prompt")
        return text, ids

    texts, ids_list = map(list, zip(*[await run_in_threadpool(prepare, p) for p in prompts]))
    n = body.n or 1
    jobs = [(pi, ids, _params(body, body.max_tokens or 16, body.logprobs, j)) for pi, ids in enumerate(ids_list) for j in range(n)]
    head = {"id": "cmpl-" + secrets.token_hex(12), "object": "text_completion", "created": int(time.time()),
            "model": state.engine.model_name}
    echo = [t if body.echo else "" for t in texts]

    def finish_text(pi, text):
        return state.filters.on_response(text, [{"role": "user", "content": texts[pi]}], ctx)

    if not body.stream:
        results = await unless_disconnected(request, _gather(state, [(ids, p) for _, ids, p in jobs]))
        choices = [{"index": i, "text": echo[pi] + finish_text(pi, r.text), "finish_reason": r.finish_reason,
                    "logprobs": _text_logprobs(tok, r.events, len(echo[pi])) if body.logprobs is not None else None}
                   for i, ((pi, _, _), r) in enumerate(zip(jobs, results))]
        return {**head, "choices": choices,
                "usage": _usage(sum(len(ids) for ids in ids_list) * n, sum(r.completion_tokens for r in results))}

    async def events():
        buffered = [""] * len(jobs) if state.filters.response else None
        offsets = [len(echo[pi]) for pi, _, _ in jobs]
        used = 0
        for i, (pi, _, _) in enumerate(jobs):
            if echo[pi]:
                yield _sse({**head, "choices": [{"index": i, "text": echo[pi], "logprobs": None, "finish_reason": None}]})
        try:
            async for i, ev in merged([state.engine.generate(ids, p) for _, ids, p in jobs]):
                lp = _text_logprobs(tok, [ev], offsets[i]) if body.logprobs is not None and ev.token_id is not None else None
                offsets[i] += len(ev.text)
                text = ev.text
                if buffered is not None:
                    buffered[i] += ev.text
                    text = finish_text(jobs[i][0], buffered[i]) if ev.finish_reason else ""
                if text or lp or ev.finish_reason:
                    yield _sse({**head, "choices": [{"index": i, "text": text, "logprobs": lp, "finish_reason": ev.finish_reason}]})
                if ev.finish_reason:
                    used += ev.completion_tokens
        except Exception as e:
            yield _sse(APIError(500, f"generation failed: {e}", type="server_error").body())
        if body.stream_options and body.stream_options.include_usage:
            yield _sse({**head, "choices": [], "usage": _usage(sum(len(ids) for _, ids, _ in jobs), used)})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# --- vLLM's extra endpoints: /health, /tokenize, /detokenize (at the root and under /v1) ---------

root = APIRouter(tags=["openai"])


class TokenizeRequest(BaseModel):
    model_config = STRICT
    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_generation_prompt: bool = True  # messages only
    add_special_tokens: bool = True  # prompt only


class DetokenizeRequest(BaseModel):
    model_config = STRICT
    model: str | None = None
    tokens: list[int]


@root.get("/health")
def health():
    """200 while the server is up (no key needed), like vLLM's."""
    return {"status": "ok"}


async def tokenize(body: TokenizeRequest, request: Request, who: Principal = Depends(require("user"))):
    state = state_of(request).for_model(body.model)  # 404 for a model not served
    if (body.prompt is None) == (body.messages is None):
        raise APIError(400, "Give exactly one of 'prompt' or 'messages'.", param="prompt")
    tok = state.engine.tokenizer

    def run() -> list[int]:
        if body.messages is not None:
            text = render(tok, [m.as_dict() for m in body.messages], add_generation_prompt=body.add_generation_prompt)
            check_chars(state, text, "messages")
            return encode(tok, text)
        check_chars(state, body.prompt, "prompt")
        return encode(tok, body.prompt) if body.add_special_tokens else tok(body.prompt, add_special_tokens=False)["input_ids"]

    ids = await run_in_threadpool(run)
    return {"count": len(ids), "max_model_len": state.engine.max_context, "tokens": ids}


async def detokenize(body: DetokenizeRequest, request: Request, who: Principal = Depends(require("user"))):
    state = state_of(request).for_model(body.model)  # 404 for a model not served
    if len(body.tokens) > state.engine.max_context:
        raise APIError(400, f"'tokens' may hold at most {state.engine.max_context} ids (the context).", param="tokens")
    if body.tokens:
        try:
            check_prompt_ids(body.tokens, state.engine.vocab_size)
        except ValueError as e:
            raise APIError(400, f"Invalid value for 'tokens': {e}.", param="tokens") from None
    return {"prompt": await run_in_threadpool(state.engine.tokenizer.decode, body.tokens)}


for prefix in ("", "/v1"):  # vLLM serves them at the root; under /v1 the openai client's base_url reaches them too
    root.add_api_route(prefix + "/tokenize", tokenize, methods=["POST"])
    root.add_api_route(prefix + "/detokenize", detokenize, methods=["POST"])
