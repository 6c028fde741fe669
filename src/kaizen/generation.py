"""Batched sampling with the KV cache, shared by ranking, PPO rollouts and evaluation.

Prompts are left-padded so every row's next token sits in the same column; `generate` keeps the
KV cache between steps. Each answer is cut at its first stop token (EOS or end-of-turn), and
``ended`` records whether it stopped by itself: answers that never end are what PPO penalises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kaizen.data.chat import render, stop_token_ids
from kaizen.data.records import Message
from kaizen.lazy import lazy_import, no_grad

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


def chat_prompt(tokenizer, messages: Sequence[Message]) -> str:
    return render(tokenizer, messages, add_generation_prompt=True)


@no_grad
def generate(model, tokenizer, prompts: Sequence[str], params: SamplingParams, batch_size: int = 32,
             seed: int | None = None, stop_strings: Sequence[str] = ()) -> list[Generation]:
    """Sample one answer per prompt (rendered text). Deterministic given ``seed``."""
    device = next(model.parameters()).device
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    was_training = model.training
    model.eval()
    if seed is not None:
        torch.manual_seed(seed)
    out: list[Generation] = []
    for s in range(0, len(prompts), batch_size):
        chunk = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[s:s + batch_size]]
        width = max(len(c) for c in chunk)
        ids = torch.tensor([[pad_id] * (width - len(c)) + c for c in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk], device=device)
        kwargs = dict(max_new_tokens=params.max_new_tokens, eos_token_id=stops, pad_token_id=pad_id)
        if params.greedy or params.temperature <= 0:
            kwargs.update(do_sample=False)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        seqs = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        for row, prompt_ids in zip(seqs[:, width:].tolist(), chunk):
            response, ended = _cut_at_stop(row, stops)
            text = tokenizer.decode(response, skip_special_tokens=True)
            for ss in stop_strings:
                if ss in text:
                    text, ended = text[: text.index(ss)], True
            out.append(Generation(prompt_ids, response, text.strip(), ended))
    if was_training:
        model.train()
    return out


def _cut_at_stop(tokens: list[int], stops: list[int]) -> tuple[list[int], bool]:
    for i, t in enumerate(tokens):
        if t in stops:
            return tokens[: i + 1], True
    return tokens, False
