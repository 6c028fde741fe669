"""The decoding core that rollouts, evaluation and serving share: prefill, one step, sampling, log-probs.

    ids, mask = left_pad(prompts, pad_id, device)
    logits, cache, mask = prefill(model, ids, mask)            # [B, V] at each row's last prompt token
    tokens = sample(logits, temperature=1.0, top_p=0.9)         # [B]
    logits, mask = decode_step(model, tokens, cache, mask)     # the next token's logits, the mask grown

Prompts are left-padded so every row's next token sits in the same column; position ids count
real tokens only, so a padded row sees the positions it would see alone. ``generation.generate``
(a batch in, answers out) and ``serve.engine.TransformersEngine`` (continuous batching) are both
loops over these three functions, so their sampling and numerics cannot drift apart.

A prompt-tuned peft model's virtual tokens go in front of each row at prefill (the mask prefill
returns covers them) and the steps run on its base model: fed once, not again with every token.

Sampling follows transformers' ``generate`` warpers in order (temperature, top-k, top-p, then one
``torch.multinomial`` over the batch): with the same generator state it draws the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.lazy import lazy_import
from kaizen.models.adapters import virtual_tokens

torch = lazy_import("torch")

GREEDY_BELOW = 1e-5  # a temperature under this is greedy: logits / 1e-300 overflow to NaN (vLLM's _SAMPLING_EPS)


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [B, W], attention mask [B, W])`` with each prompt right-aligned in width W."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if p:
            ids[i, width - len(p):] = torch.tensor(list(p))
            mask[i, width - len(p):] = 1
    return ids.to(device), mask.to(device)


def new_cache(model):
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def prefill(model, ids: torch.Tensor, mask: torch.Tensor, cache=None) -> tuple[torch.Tensor, object, torch.Tensor]:
    """Run the prompts ``ids`` [B, W] (left-padded, ``mask``) and return (fp32 logits [B, V] of the next token,
    cache, the mask [B, W'] over the cache's columns: W' = W + the virtual tokens of a prompt-tuned model)."""
    base, n = _base_model(model), virtual_tokens(model)
    cache = new_cache(base) if cache is None else cache
    if n:
        embeds = base.get_input_embeddings()(ids)
        virtual = model.get_prompt(batch_size=ids.shape[0]).to(embeds.dtype)
        inputs = {"inputs_embeds": torch.cat([virtual, embeds], dim=1)}
        mask = torch.cat([mask.new_ones((mask.shape[0], n)), mask], dim=1)
    else:
        inputs = {"input_ids": ids}
    out = base(**inputs, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
               past_key_values=cache, use_cache=True, logits_to_keep=1)
    return out.logits[:, -1, :].float(), out.past_key_values, mask


def decode_step(model, tokens: torch.Tensor, cache, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed one token per row (``tokens`` [B]); return (fp32 logits [B, V] of the next, the mask [B, W+1])."""
    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
    out = _base_model(model)(input_ids=tokens.view(-1, 1), attention_mask=mask,
                             position_ids=mask.sum(-1, keepdim=True) - 1, past_key_values=cache, use_cache=True)
    return out.logits[:, -1, :].float(), mask


def _base_model(model):
    """The model a decoding step calls: a prompt-tuned peft model's forward would prepend its virtual
    tokens to every step's input (and drop the position ids), so its base runs instead."""
    return model.get_base_model() if virtual_tokens(model) else model


def warp(logits: torch.Tensor, temperature: float, top_p: float = 1.0, top_k: int = 0) -> torch.Tensor:
    """``logits`` [..., V] as ``generate``'s warpers leave them: divided by the temperature, then everything
    outside the top k and outside the smallest set whose probability reaches ``top_p`` set to -inf."""
    if temperature != 1.0:  # generate adds no temperature warper at 1.0: the same bits either way
        logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        cut = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < cut, float("-inf"))
    if top_p < 1.0:  # transformers' TopPLogitsWarper: drop the tail whose mass is at most 1 - top_p
        sorted_logits, order = logits.sort(dim=-1, descending=False)
        tail = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
        tail[..., -1:] = False  # always keep the most likely token
        logits = logits.masked_fill(tail.scatter(-1, order, tail), float("-inf"))
    return logits


def sample(logits: torch.Tensor, temperature: float, top_p: float = 1.0, top_k: int = 0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``logits`` [B, V] -> ``[B]`` long: greedy below ``GREEDY_BELOW``, else warped
    and drawn with ``generator`` (the global one when None, as ``generate`` draws)."""
    if temperature < GREEDY_BELOW:
        return logits.argmax(dim=-1)
    probs = torch.softmax(warp(logits, temperature, top_p, top_k), dim=-1)
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(f"sampling at temperature {temperature} gave non-finite probabilities")
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``[B]`` fp32 log-probability of ``tokens`` [B] under the model's own distribution ``logits`` [B, V]
    (before any warper: the policy π that PPO's ratio and KL are about, whatever the sampling temperature)."""
    logits = logits.float()
    return logits.gather(-1, tokens.view(-1, 1)).squeeze(-1) - logits.logsumexp(dim=-1)
