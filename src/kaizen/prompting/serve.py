"""Prompting strategies behind ``/v1/chat/completions``: the ``kaizen`` body field, or the server's default.

    client.chat.completions.create(model=m, messages=msgs,
                                   extra_body={"kaizen": {"strategy": "self_consistency", "n": 8}})
    kaizen serve runs/sft --prompting.strategy best_of_n@8 --prompting.reward_model runs/rm/model \
        --prompting.documents runs/world/corpus_train.jsonl --prompting.store_rankings true

The response keeps OpenAI's shape: the final answer is ``choices[i].message.content``; the
chain of thought, generated knowledge, vote or ReAct transcript is ``message.reasoning_content``
(the field vLLM uses for reasoning models, which clients show folded); everything else
(strategy, extracted answer, ReAct steps, candidates with their reward-model scores, token
count, the ranking task made from the candidates) is in a top-level ``kaizen`` object that
OpenAI clients ignore and keep (``completion.model_extra["kaizen"]``). Keys of ``kaizen``: see
``StrategySpec`` (strategy, n, temperature, shots, selection, max_steps, max_tokens).

The web chat (``/api/conversations/ID/messages``, ``/regenerate``) takes the same ``kaizen``
field and runs it through the same ``answer``; it stores the answer as the assistant message and
the ``kaizen`` record (reasoning included) in that message's ``meta``. ``available`` lists what
this server can run (``GET /api/strategies``, for the chat's strategy picker).

Strategies are plain synchronous code: they run in a worker thread and reach the engine
through ``EngineSampler``, which submits each generation to the server's event loop, so many
samples of one request are decoded in the engine's shared batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kaizen.config import arg
from kaizen.prompting.strategy import STRATEGIES, StrategyError, StrategySpec, Toolkit, run_strategy
from kaizen.prompting.types import Completion, StrategyResult, as_conversation


@dataclass(frozen=True)
class PromptingConfig:
    """Prompting strategies of the chat API (``kaizen serve --prompting.KEY``)."""

    strategy: str | None = arg(None, "Default strategy for requests without a 'kaizen' field, as NAME or NAME@K "
                                     "(e.g. self_consistency@8); none: plain sampling.")
    reward_model: str | None = arg(None, "Reward model directory for best_of_n (`kaizen rm` output).")
    documents: list[str] = arg([], "Files ({'text'} JSONL or .txt) that react's search tool searches with BM25.")
    pool: str | None = arg(None, "Example pool for few_shot / few-shot cot: SFT JSONL ('format' direct / cot rows).")
    store_rankings: bool = arg(False, "Store best_of_n's candidates (4..9 distinct ones) as ranking tasks for labelers.")
    max_samples: int = arg(16, "Most samples one request may ask for (n of self_consistency / best_of_n).")


class EngineSampler:
    """The ``Sampler`` interface over the server's engine, for code running in a worker thread.

    ``stop()`` (from the event loop, when the client goes away) cancels the generations in
    flight and makes every later ``complete`` raise ``CancelledError``, so an abandoned
    strategy frees the engine at its next step instead of sampling on for nobody.
    """

    def __init__(self, state, loop: asyncio.AbstractEventLoop, seed: int | None = None):
        self.state, self.loop, self.seed = state, loop, seed
        self.calls = 0
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future] = set()
        self._stopped = False

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            pending = list(self._pending)
        for job in pending:
            job.cancel()

    def complete(self, conversations: Sequence[Sequence[dict]], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int = 128) -> list[list[Completion]]:
        from kaizen.serve.engine import SEED_MAX, SamplingParams
        from kaizen.serve.runtime import chat_prompt, collect

        jobs = []
        for conv in conversations:
            ids = chat_prompt(self.state, as_conversation(conv))
            for j in range(n):
                seed = None if self.seed is None else (self.seed + 1000 * self.calls + j) % (SEED_MAX + 1)
                params = SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed, logprobs=0)
                jobs.append(asyncio.run_coroutine_threadsafe(collect(self.state, ids, params), self.loop))
        self.calls += 1
        outs = self._wait(jobs)
        done = [Completion(o.text.strip(), o.completion_tokens, sum(ev.logprob or 0.0 for ev in o.events),
                           o.finish_reason or "stop") for o in outs]
        return [done[i * n:(i + 1) * n] for i in range(len(conversations))]

    def _wait(self, jobs: list[concurrent.futures.Future]) -> list:
        """The jobs' results; raises CancelledError once ``stop()`` is called (before or while waiting)."""
        with self._lock:
            self._pending.update(jobs)
            stopped = self._stopped
        try:
            if stopped:
                for job in jobs:
                    job.cancel()
            return [job.result() for job in jobs]
        finally:
            with self._lock:
                self._pending.difference_update(jobs)


@dataclass
class _Runtime:
    toolkit: Toolkit
    default: StrategySpec | None


def runtime(state) -> _Runtime:
    """The server's strategy tools, loaded on first use (the RM and the BM25 index take seconds)."""
    rt = state.__dict__.get("_prompting")
    if rt is None:
        cfg: PromptingConfig = getattr(state.cfg, "prompting", None) or PromptingConfig()
        kit = Toolkit()
        if cfg.documents:
            from kaizen.prompting.tools import DocumentStore

            kit.store = DocumentStore.from_files(cfg.documents)
        if cfg.pool:
            from kaizen.prompting.examples import ExamplePool

            kit.pool = ExamplePool.from_file(cfg.pool, formats=("direct",))
            kit.cot_pool = ExamplePool.from_file(cfg.pool, formats=("cot",))
        if cfg.reward_model:
            from kaizen.reward import load_reward_model

            kit.scorer = load_reward_model(cfg.reward_model, device="cpu")
        rt = _Runtime(kit, StrategySpec.parse(cfg.strategy) if cfg.strategy else None)
        state.__dict__["_prompting"] = rt
    return rt


def wants_strategy(state, body) -> bool:
    """Does this request go through a strategy (a ``kaizen`` field, or a server default)?

    An explicit ``"kaizen": null`` opts out of the server's default: plain sampling (the web
    chat's "Plain sampling" choice, which streams token by token).
    """
    cfg = getattr(state.cfg, "prompting", None)
    if getattr(body, "kaizen", None) is not None:
        return True
    opted_out = "kaizen" in getattr(body, "model_fields_set", ())
    return not opted_out and bool(cfg and cfg.strategy)


def request_spec(state, body) -> StrategySpec:
    """The request's ``StrategySpec``; ``body`` is an OpenAI chat request or the web chat's options."""
    from kaizen.serve.errors import APIError

    cfg: PromptingConfig = getattr(state.cfg, "prompting", None) or PromptingConfig()
    extra = getattr(body, "kaizen", None)
    max_tokens = getattr(body, "max_completion_tokens", None) or body.max_tokens
    try:
        if extra is None:
            spec = runtime(state).default
        elif not isinstance(extra, dict):
            raise StrategyError("kaizen: expected an object such as {\"strategy\": \"self_consistency\", \"n\": 8}")
        else:
            spec = StrategySpec.from_dict(extra)
        if spec.strategy in ("self_consistency", "best_of_n") and spec.n > cfg.max_samples:
            raise StrategyError(f"kaizen.n: {spec.n} is more than this server allows ({cfg.max_samples})")
        if spec.temperature is None and body.temperature is not None:
            spec = StrategySpec(**{**spec.__dict__, "temperature": body.temperature})
        if spec.max_tokens is None and max_tokens:
            spec = StrategySpec(**{**spec.__dict__, "max_tokens": max_tokens})
    except StrategyError as e:
        raise APIError(400, str(e), param=str(e).split(":")[0]) from None
    return spec


def available(cfg: PromptingConfig | None) -> list[str]:
    """The strategies this server can run, from its configuration alone (nothing is loaded)."""
    cfg = cfg or PromptingConfig()
    needs = {"few_shot": cfg.pool, "react": cfg.documents, "best_of_n": cfg.reward_model}
    return [s for s in STRATEGIES if needs.get(s, True)]


def _public(r: StrategyResult, task_id: int | None) -> dict:
    return {"strategy": r.strategy, "answer": r.answer, "reasoning": r.reasoning,
            "steps": [s.__dict__ for s in r.steps],
            "candidates": [{"text": c.text, "answer": c.answer, "score": c.score, "tokens": c.tokens,
                            "mean_logprob": round(c.mean_logprob, 4)} for c in r.candidates],
            "tokens": r.tokens, "calls": r.calls, "finish_reason": r.finish_reason, "ranking_task_id": task_id}


def _store_ranking(state, messages: list[dict], r: StrategyResult, user_id: int) -> int | None:
    """Best-of-N's distinct candidates, best first, as a ranking task (K = 4..9) for labelers."""
    from kaizen.data.records import MAX_ANSWERS
    from kaizen.serve import tasks

    texts: list[str] = []
    scores: list[float] = []
    for c in r.candidates:  # sorted by score already
        if c.text.strip() and c.text not in texts and len(texts) < MAX_ANSWERS:
            texts.append(c.text)
            scores.append(c.score)
    if len(texts) < tasks.MIN_RANK_K:
        return None
    with state.db.session() as s:
        [task] = tasks.create_tasks(s, [(messages, texts)], "rank", len(texts), 1, False,
                                    {"source": r.strategy, "rm_scores": scores, "model": state.engine.model_name},
                                    user_id)
        return task.id


@dataclass
class Answer:
    """One strategy answer as the chat routes send and store it."""

    content: str  # the final answer, after the response filters
    reasoning: str | None  # chain of thought, knowledge, vote or ReAct transcript
    finish_reason: str  # "stop" | "length"
    kaizen: dict  # the public record: strategy, steps, candidates, tokens, ranking_task_id
    tokens: int


async def answer(state, request, spec: StrategySpec, messages: list[dict], who, ctx, n: int = 1,
                 seed: int | None = None) -> list[Answer]:
    """Run ``spec`` on ``messages`` (already through the request filters), ``n`` times.

    ``request``: cancel when that client goes away (None inside a stream, whose end cancels us).
    Shared by ``/v1/chat/completions`` and the web chat, so both answer the same way.
    """
    from fastapi.concurrency import run_in_threadpool

    from kaizen.serve.errors import APIError
    from kaizen.serve.runtime import unless_disconnected

    rt = runtime(state)
    sampler = EngineSampler(state, asyncio.get_running_loop(), seed)
    # A worker thread cannot be cancelled, and awaiting it directly would hold a cancellation
    # until the strategy finished: shielded, so cancelling stops the sampler at once instead.
    job = asyncio.ensure_future(run_in_threadpool(run_strategy, spec, sampler, [messages] * n, rt.toolkit))
    job.add_done_callback(lambda j: j.cancelled() or j.exception())  # retrieved: no "never retrieved" log
    try:
        shielded = asyncio.shield(job)
        results = await (shielded if request is None else unless_disconnected(request, shielded))
    except StrategyError as e:
        raise APIError(400, str(e), param="kaizen." + str(e).split(":")[0]) from None
    except BaseException:  # cancelled, or the client went away (499)
        sampler.stop()
        raise
    cfg: PromptingConfig = getattr(state.cfg, "prompting", None) or PromptingConfig()
    out = []
    for r in results:
        task_id = None
        if cfg.store_rankings and r.candidates and r.candidates[0].score is not None:
            task_id = await run_in_threadpool(_store_ranking, state, messages, r, who.user_id)
        content, r = _screened(state, r, messages, ctx)
        out.append(Answer(content, r.reasoning, "length" if r.finish_reason == "length" else "stop",
                          _public(r, task_id), r.tokens))
    return out


def _screened(state, r: StrategyResult, messages: list[dict], ctx) -> tuple[str, StrategyResult]:
    """The answer after the response filters (moderation, secret checks), and what is shown beside it.

    The reasoning and the samples reach the user too, so they pass the same filters, as one
    text: if the filters change the answer or any of that, all of it is withheld (an unchosen
    sample or a chain of thought must not carry what the answer's check would have stopped).
    """
    content = state.filters.on_response(r.text, messages, ctx)
    if not state.filters.response:
        return content, r
    beside = "\n\n".join([r.reasoning or "", *(c.text for c in r.candidates)]).strip()
    if content != r.text or (beside and state.filters.on_response(beside, messages, ctx) != beside):
        r = replace(r, reasoning=None, steps=[], candidates=[])
    return content, r


async def chat_completion(state, request, body, messages: list[dict], who, ctx):
    """``/v1/chat/completions`` through a strategy: an OpenAI-shaped response (or SSE stream)."""
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import StreamingResponse

    from kaizen.serve.runtime import chat_prompt

    spec = request_spec(state, body)
    prompt_ids = await run_in_threadpool(chat_prompt, state, messages)  # tokenizing blocks: off the event loop
    n = body.n or 1
    answers = await answer(state, request, spec, messages, who, ctx, n, body.seed)
    choices = [{"index": i, "message": {"role": "assistant", "content": a.content, "refusal": None,
                                        "reasoning_content": a.reasoning},
                "logprobs": None, "finish_reason": a.finish_reason} for i, a in enumerate(answers)]
    extras = [a.kaizen for a in answers]
    head = {"id": "chatcmpl-" + secrets.token_hex(12), "created": int(time.time()), "model": state.engine.model_name}
    used = sum(a.tokens for a in answers)
    usage = {"prompt_tokens": len(prompt_ids), "completion_tokens": used, "total_tokens": len(prompt_ids) + used}
    kaizen = extras[0] if n == 1 else {"choices": extras}
    if not body.stream:
        return {**head, "object": "chat.completion", "choices": choices, "usage": usage, "kaizen": kaizen}

    def sse(obj) -> str:
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

    async def events():  # the answer exists only once the strategy is done: one content chunk per choice
        for c in choices:
            m = c["message"]
            delta = {"role": "assistant", "content": m["content"], "reasoning_content": m["reasoning_content"]}
            yield sse({**head, "object": "chat.completion.chunk",
                       "choices": [{"index": c["index"], "delta": delta, "logprobs": None, "finish_reason": None}]})
            yield sse({**head, "object": "chat.completion.chunk",
                       "choices": [{"index": c["index"], "delta": {}, "logprobs": None, "finish_reason": c["finish_reason"]}]})
        last = {**head, "object": "chat.completion.chunk", "choices": [], "kaizen": kaizen}
        if body.stream_options and body.stream_options.include_usage:
            last["usage"] = usage
        yield sse(last)
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
