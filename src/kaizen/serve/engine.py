"""Batched generation behind one async API: ``engine.generate(prompt_ids, params)`` yields events.

    engine = TransformersEngine.load("runs/sft", max_batch_size=16)
    async for ev in engine.generate(ids, SamplingParams(max_tokens=64, temperature=0.7, seed=1)):
        print(ev.text, end="")

A worker thread owns the model. Requests that arrive together are prefilled as one left-padded
batch; then one forward per step decodes every running row with the KV cache. New requests
join the running batch at the next step (their prefill is merged into the cache), finished
rows leave it, and a row whose consumer stopped iterating (client disconnected) is dropped at
the next step. Each row keeps its own temperature, top-p and ``torch.Generator``. Prefill, the
decode step and sampling are ``kaizen.models.decoding``'s, the core that training rollouts
(``kaizen.generation``) also run on; what is this module's own is the scheduling around them.

Why not transformers' built-in continuous batching (``generate_batch`` /
``init_continuous_batching``)? It runs on CPU, but it has no per-request seed or top
log-probs, and its API changes between minor releases; this loop is small and ours.
"""

from __future__ import annotations

import asyncio
import collections
import math
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kaizen.data.chat import ensure_chat_template, stop_token_ids
from kaizen.models import decoding


SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes 64 bits; non-negative 63 is the range every engine accepts


@dataclass(frozen=True)
class SamplingParams:
    """One request's sampling; out-of-range values raise ValueError here, before they reach a batch."""

    max_tokens: int
    temperature: float = 1.0  # 0 (or under GREEDY_BELOW): greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # None: no log-probs; 0: the sampled token's; k: also the top k
    top_k: int = 0  # 0: no top-k cut
    repetition_penalty: float = 1.0  # CTRL's penalty (Keskar et al. 2019, eq. 2); 1: none
    constraint: object | None = None  # .allowed(generated ids) -> allowed next ids (structured.JsonConstraint)

    def __post_init__(self):
        problems = [name for name, ok in (
            ("max_tokens", self.max_tokens >= 1),
            ("temperature", math.isfinite(self.temperature) and self.temperature >= 0),
            ("top_p", math.isfinite(self.top_p) and 0 < self.top_p <= 1),
            ("seed", self.seed is None or 0 <= self.seed <= SEED_MAX),
            ("logprobs", self.logprobs is None or 0 <= self.logprobs <= 20),
            ("top_k", self.top_k >= 0),
            ("repetition_penalty", math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0),
        ) if not ok]
        if problems:
            raise ValueError(f"sampling parameter out of range: {', '.join(f'{n}={getattr(self, n)!r}' for n in problems)}")


@dataclass
class TokenEvent:
    """One step of one request: ``text`` is new output (may be empty while a stop string is pending)."""

    text: str
    token_id: int | None = None  # None on a final event that adds no token (EOS, flush)
    logprob: float | None = None
    top_logprobs: list[tuple[int, float]] | None = None
    finish_reason: str | None = None  # "stop" | "length" on the last event
    prompt_tokens: int = 0
    completion_tokens: int = 0


def check_prompt_ids(ids: list[int], vocab_size: int) -> None:
    """ValueError unless ``ids`` is a non-empty list of token ids in [0, vocab_size)."""
    if not ids:
        raise ValueError("empty prompt")
    bad = next((t for t in ids if not isinstance(t, int) or not 0 <= t < vocab_size), None)
    if bad is not None:
        raise ValueError(f"token id {bad!r} is outside the vocabulary (0..{vocab_size - 1})")


class TextStream:
    """Incremental detokenization that holds back text which may still become a stop string."""

    def __init__(self, tokenizer, stop: tuple[str, ...]):
        self.tokenizer, self.stop = tokenizer, [s for s in stop if s]
        self.ids: list[int] = []
        self.sent = 0  # characters of the decoded text already emitted

    def push(self, token_id: int) -> tuple[str, bool]:
        """Add a token; return (new text, hit a stop string)."""
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
            return "", False
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        if hits:
            end = min(hits)
            delta, self.sent = text[self.sent:end], max(self.sent, end)
            return delta, True
        hold = max((n for s in self.stop for n in range(len(s) - 1, 0, -1) if text.endswith(s[:n])), default=0)
        safe = len(text) - hold
        delta = text[self.sent:safe] if safe > self.sent else ""
        self.sent = max(self.sent, safe)
        return delta, False

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        delta, self.sent = text[self.sent:], len(text)
        return delta


@dataclass
class _Request:
    prompt_ids: list[int]
    params: SamplingParams
    emit: object  # callable(TokenEvent | Exception), thread-safe
    cancelled: bool = False


@dataclass
class _Row:
    req: _Request
    gen: torch.Generator
    stream: TextStream
    next_token: int = -1
    generated: int = 0
    done: bool = False


class TransformersEngine:
    """Continuous batching over a Hugging Face causal LM; see the module docstring."""

    def __init__(self, model, tokenizer, model_name: str, max_batch_size: int = 16, batch_wait_ms: float = 5.0,
                 max_context: int | None = None, threads: int = 0):
        ensure_chat_template(tokenizer)
        self.model, self.tokenizer, self.model_name = model.eval(), tokenizer, model_name
        self.max_batch_size, self.batch_wait, self.threads = max_batch_size, batch_wait_ms / 1000, threads
        self.max_context = max_context or getattr(model.config, "max_position_embeddings", None) or 2048
        self.stop_ids = set(stop_token_ids(tokenizer))
        # Ids a prompt may hold: the embedding rows that also have a token (a prompt id past either is an IndexError).
        self.vocab_size = min(len(tokenizer), model.get_input_embeddings().num_embeddings)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.stop_ids)
        self.device = next(model.parameters()).device
        self._pending: collections.deque[_Request] = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self.running = 0  # rows in the current batch (read by tests and /api/admin/stats)
        self.steps = 0  # forward passes so far
        self.max_rows_seen = 0  # largest batch decoded together
        self.cancelled = 0  # rows dropped because their consumer went away
        self._thread = threading.Thread(target=self._loop, name="kaizen-engine", daemon=True)
        self._thread.start()

    @classmethod
    def load(cls, path: str, device: str = "auto", dtype: str = "auto", **kwargs) -> TransformersEngine:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
        return cls(model, tokenizer, **kwargs)

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> AsyncIterator[TokenEvent]:
        check_prompt_ids(prompt_ids, self.vocab_size)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(ev):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, ev)
            except RuntimeError:  # the event loop is gone (server shutting down)
                req.cancelled = True

        req = _Request(list(prompt_ids), params, emit)
        with self._cv:
            self._pending.append(req)
            self._cv.notify()
        try:
            while True:
                ev = await queue.get()
                if isinstance(ev, BaseException):
                    raise ev
                yield ev
                if ev.finish_reason is not None:
                    return
        finally:
            req.cancelled = True  # a consumer that stopped (client gone) frees its row at the next step

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=10)

    # --- worker thread -------------------------------------------------------------------------

    def _take(self, room: int, idle: bool) -> list[_Request]:
        with self._cv:
            if idle:
                while not self._pending and not self._closed:
                    self._cv.wait(0.5)
                # Requests sent at about the same moment share one prefill.
                deadline = time.monotonic() + self.batch_wait
                while len(self._pending) < room and not self._closed and (left := deadline - time.monotonic()) > 0:
                    self._cv.wait(left)
            taken = []
            while self._pending and len(taken) < room:
                req = self._pending.popleft()
                if not req.cancelled:
                    taken.append(req)
            return taken

    def _loop(self) -> None:
        if self.threads:  # per thread under OpenMP: the rest of the process keeps its setting
            torch.set_num_threads(self.threads)
        rows: list[_Row] = []
        cache, mask = None, None
        while not self._closed:
            try:
                # Sliding-window caches cannot be left-padded and merged: such models batch per wave.
                can_join = cache is None or all(type(layer).__name__ == "DynamicLayer" for layer in cache.layers)
                new = self._take(self.max_batch_size - len(rows), idle=not rows) if can_join or not rows else []
                with torch.inference_mode():
                    if new:
                        rows, cache, mask = self._admit(new, rows, cache, mask)
                    if rows:  # one decode step for every running row, the new ones included
                        logits, mask = self._decode(rows, cache, mask)
                        self._advance(rows, logits)
                        rows, cache, mask = self._prune(rows, cache, mask)
            except Exception as e:  # a failing decode step (out of memory, say) fails its batch, never the server
                for r in rows:
                    if not r.done:
                        r.req.emit(e)
                rows, cache, mask = [], None, None
                self.running = 0

    def _admit(self, new: list[_Request], rows: list[_Row], cache, mask):
        """Prefill ``new`` and join it to the running batch; a request whose prefill fails fails alone."""
        try:
            waves = [self._prefill(new)]
        except Exception as e:
            if len(new) == 1:
                new[0].emit(e)
                return rows, cache, mask
            waves = []
            for req in new:  # find the culprit: prefill each on its own, the others still join
                try:
                    waves.append(self._prefill([req]))
                except Exception as e:
                    req.emit(e)
        for new_rows, new_cache, new_mask, logits in waves:
            self._advance(new_rows, logits)
            cache, mask = _merge(cache, mask, new_cache, new_mask) if rows else (new_cache, new_mask)
            rows, cache, mask = self._prune(rows + new_rows, cache, mask)
        return rows, cache, mask

    def _prune(self, rows: list[_Row], cache, mask):
        """Drop finished rows and rows whose consumer went away."""
        self.max_rows_seen = max(self.max_rows_seen, len(rows))
        self.cancelled += sum(1 for r in rows if r.req.cancelled and not r.done)
        keep = [i for i, r in enumerate(rows) if not r.done and not r.req.cancelled]
        if len(keep) < len(rows):
            rows = [rows[i] for i in keep]
            cache, mask = _select(cache, mask, keep) if rows else (None, None)
        self.running = len(rows)
        return rows, cache, mask

    def _prefill(self, reqs: list[_Request]):
        ids, mask = decoding.left_pad([q.prompt_ids for q in reqs], self.pad_id, self.device)
        logits, cache, mask = decoding.prefill(self.model, ids, mask)
        self.steps += 1
        rows = []
        for q in reqs:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(q.params.seed if q.params.seed is not None else secrets.randbits(63))
            rows.append(_Row(q, gen, TextStream(self.tokenizer, q.params.stop)))
        return rows, cache, mask, logits

    def _decode(self, rows: list[_Row], cache, mask):
        tokens = torch.tensor([r.next_token for r in rows], device=self.device)
        logits, mask = decoding.decode_step(self.model, tokens, cache, mask)
        self.steps += 1
        return logits, mask

    def _advance(self, rows: list[_Row], logits: torch.Tensor) -> None:
        """Sample one token per row from ``logits`` [B, V] and tell each request what happened.

        A row that fails here (a sampling error) ends alone with the error; the others go on.
        """
        for r, row_logits in zip(rows, logits):
            if r.req.cancelled or r.done:
                continue
            try:
                self._advance_row(r, row_logits)
            except Exception as e:
                r.done = True
                r.req.emit(e)

    def _advance_row(self, r: _Row, row_logits: torch.Tensor) -> None:
        p = r.req.params
        scores = row_logits
        if p.repetition_penalty != 1.0:
            scores = _penalize(row_logits, r.req.prompt_ids + r.stream.ids, p.repetition_penalty)
        if p.constraint is not None:
            allowed = torch.tensor(p.constraint.allowed(r.stream.ids), dtype=torch.long, device=scores.device)
            if allowed.numel() == 0:
                raise ValueError("the response format allows no next token")
            scores = torch.full_like(scores, float("-inf")).index_copy(0, allowed, scores[allowed])
        token = _sample(scores, p.temperature, p.top_p, r.gen, top_k=p.top_k)
        r.generated += 1
        prompt_len = len(r.req.prompt_ids)
        counts = dict(prompt_tokens=prompt_len, completion_tokens=r.generated)
        if token in self.stop_ids:
            r.done = True
            r.req.emit(TokenEvent(r.stream.flush(), finish_reason="stop", **counts))
            return
        lp = top = None
        if p.logprobs is not None:
            logp = torch.log_softmax(row_logits, dim=-1)
            lp = float(logp[token])
            if p.logprobs > 0:
                vals, idx = logp.topk(min(p.logprobs, logp.shape[-1]))
                top = list(zip(idx.tolist(), vals.tolist()))
        text, hit_stop = r.stream.push(token)
        finish = "stop" if hit_stop else None
        if finish is None and (r.generated >= p.max_tokens or prompt_len + r.generated >= self.max_context):
            finish, text = "length", text + r.stream.flush()
        r.done = finish is not None
        r.next_token = token
        r.req.emit(TokenEvent(text, token, lp, top, finish, **counts))


def _penalize(logits: torch.Tensor, seen: list[int], penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty on a [V] row: seen tokens' positive logits divided by it, negative ones multiplied
    (Keskar et al. 2019, eq. 2; the rule of transformers' RepetitionPenaltyLogitsProcessor)."""
    idx = torch.tensor(sorted(set(seen)), dtype=torch.long, device=logits.device)
    picked = logits[idx]
    out = logits.clone()
    out[idx] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return out


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator, top_k: int = 0) -> int:
    """One token from a [V] row of logits: the shared sampler (``decoding.sample``) on a batch of one."""
    return int(decoding.sample(logits[None], temperature, top_p, top_k, generator=gen)[0])


def _merge(cache, mask, new_cache, new_mask):
    """Join two left-padded batches: pad the shorter on the left, stack along the batch."""
    width = max(mask.shape[1], new_mask.shape[1])
    for layer, new_layer in zip(cache.layers, new_cache.layers):
        for name in ("keys", "values"):
            a, b = getattr(layer, name), getattr(new_layer, name)
            a = F.pad(a, (0, 0, width - a.shape[-2], 0))
            b = F.pad(b, (0, 0, width - b.shape[-2], 0))
            setattr(layer, name, torch.cat([a, b], dim=0))
    mask = torch.cat([F.pad(mask, (width - mask.shape[1], 0)), F.pad(new_mask, (width - new_mask.shape[1], 0))])
    return cache, mask


def _select(cache, mask, keep: list[int]):
    """Keep rows ``keep``; drop leading columns that are padding for every remaining row."""
    idx = torch.tensor(keep, device=mask.device)
    cache.batch_select_indices(idx)
    mask = mask[idx]
    first = int(mask.any(0).nonzero()[0]) if mask.any() else 0
    if first > 0 and all(type(layer).__name__ == "DynamicLayer" for layer in cache.layers):
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]
        mask = mask[:, first:]
    return cache, mask


def served_name(cfg) -> str:
    """The name clients see: ``--name``, else ``--served_model_name``, else the run's (kaizen_model.json)."""
    from kaizen.models.identity import identify

    return getattr(cfg, "name", None) or cfg.served_model_name or identify(cfg.model).id


def load_engine(cfg) -> TransformersEngine:
    """The engine ``cfg.engine`` names, loaded from ``cfg.model``, named ``--name`` or after its run."""
    from kaizen.models.identity import identify

    identity, name = identify(cfg.model), served_name(cfg)
    if cfg.engine == "vllm":
        from kaizen.serve.vllm_engine import VLLMEngine

        engine = VLLMEngine.load(cfg.model, model_name=name, dtype=cfg.dtype, max_batch_size=cfg.max_batch_size)
    else:
        engine = TransformersEngine.load(cfg.model, device=cfg.device, dtype=cfg.dtype, model_name=name,
                                         max_batch_size=cfg.max_batch_size, batch_wait_ms=cfg.batch_wait_ms,
                                         threads=cfg.threads)
    engine.identity = identity  # /v1/models shows where it came from
    return engine
