"""Batched sampling with the KV cache, shared by ranking, PPO rollouts and evaluation.

A loop over ``kaizen.models.decoding`` (prefill, decode step, sampler), the core the serving
engine runs on too. Prompts are left-padded so every row's next token sits in the same column;
the KV cache is kept between steps. Each answer is cut at its first stop token (EOS or
end-of-turn), and ``ended`` records whether it stopped by itself: answers that never end are what
PPO penalises. Each sampled token's log-probability under the model (fp32, before temperature
or top-p) comes back with it, so PPO need not recompute it (``Generation.logprobs``).

Draws match transformers' ``generate(do_sample=True)`` token for token under the same seed
(tests/test_generation.py), except that a checkpoint's ``generation_config.json`` (say a
repetition penalty) is not applied: rollouts sample the policy itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kaizen.data.chat import render, stop_token_ids
from kaizen.data.records import Message
from kaizen.lazy import lazy_import
from kaizen.models import decoding

torch = lazy_import("torch")


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    greedy: bool = False


@dataclass(frozen=True)
class Generation:
    prompt_ids: list[int]
    response_ids: list[int]  # up to and including the stop token when ``ended``
    text: str  # decoded response without special tokens
    ended: bool
    logprobs: list[float] | None = None  # fp32 log π(token) of each of response_ids, as sampled


def chat_prompt(tokenizer, messages: Sequence[Message]) -> str:
    return render(tokenizer, messages, add_generation_prompt=True)


def generate(model, tokenizer, prompts: Sequence[str], params: SamplingParams, batch_size: int = 32,
             seed: int | None = None, stop_strings: Sequence[str] = ()) -> list[Generation]:
    """Sample one answer per prompt (rendered text). Deterministic given ``seed``."""
    # inference_mode rather than no_grad: the decode loop's many small tensors skip version counting
    # and view tracking (~7% of a 2M-parameter Llama's CPU decode time, bench/generation_vs_hf.py).
    # Safe because nothing made here outlives the call: answers and log-probs come back as lists.
    with torch.inference_mode():
        return _generate(model, tokenizer, prompts, params, batch_size, seed, stop_strings)


def _generate(model, tokenizer, prompts, params, batch_size, seed, stop_strings) -> list[Generation]:
    device = next(model.parameters()).device
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    temperature = 0.0 if params.greedy else params.temperature
    was_training = model.training
    model.eval()
    if seed is not None:
        torch.manual_seed(seed)
    out: list[Generation] = []
    for s in range(0, len(prompts), batch_size):
        chunk = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[s:s + batch_size]]
        tokens, logprobs = _decode(model, chunk, device, pad_id, stops, params.max_new_tokens, temperature, params.top_p)
        for row, lps, prompt_ids in zip(tokens.tolist(), logprobs.tolist(), chunk):
            response, ended = _cut_at_stop(row, stops)
            text = tokenizer.decode(response, skip_special_tokens=True)
            for ss in stop_strings:
                if ss in text:
                    text, ended = text[: text.index(ss)], True
            out.append(Generation(prompt_ids, response, text.strip(), ended, lps[:len(response)]))
    if was_training:
        model.train()
    return out


def _decode(model, prompts: list[list[int]], device, pad_id: int, stops: list[int], max_new_tokens: int, temperature: float,
            top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens [B, T], their log-probs [B, T])`` for T <= max_new_tokens steps, until every row has stopped.

    Every row draws at every step, finished or not, in one ``multinomial`` over the batch: the
    global generator advances as under ``generate``, so a seed gives the same answers as before.
    """
    ids, mask = decoding.left_pad(prompts, pad_id, device)
    stop_set = torch.tensor(stops, device=ids.device)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=ids.device)
    logits, cache, mask = decoding.prefill(model, ids, mask)
    tokens, logprobs = [], []
    for step in range(max_new_tokens):
        token = decoding.sample(logits, temperature, top_p)
        token = token.masked_fill(done, pad_id)  # a finished row's later tokens are cut away anyway
        tokens.append(token)
        logprobs.append(decoding.token_logprobs(logits, token))
        done = done | torch.isin(token, stop_set)
        if bool(done.all()) or step + 1 == max_new_tokens:
            break
        logits, mask = decoding.decode_step(model, token, cache, mask)
    return torch.stack(tokens, 1), torch.stack(logprobs, 1)


def _cut_at_stop(tokens: list[int], stops: list[int]) -> tuple[list[int], bool]:
    for i, t in enumerate(tokens):
        if t in stops:
            return tokens[: i + 1], True
    return tokens, False
