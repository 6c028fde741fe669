"""Rollouts: what one PPO iteration sampled, as tensors aligned for the losses.

Each row is ``prompt + response`` right-padded. Tensors of per-token quantities are in the
*shifted* frame ``[B, L-1]``: position j holds the log-prob of token j+1 and the value of the
state ending at token j, so ``mask[b, j]`` is true exactly where token j+1 is a response token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kaizen.generation import Generation
from kaizen.lazy import lazy_import

torch = lazy_import("torch")


@dataclass(frozen=True)
class Rollout:
    input_ids: torch.Tensor  # [B, L] prompt + response, right-padded
    attention_mask: torch.Tensor  # [B, L]
    mask: torch.Tensor  # [B, L-1] bool: response tokens, shifted frame
    ended: torch.Tensor  # [B] bool: the answer stopped by itself
    logprobs: torch.Tensor | None = None  # [B, L-1] fp32 log π(token j+1) as generation sampled it, 0 off the mask

    @property
    def size(self) -> int:
        return self.input_ids.shape[0]


def build_rollout(gens: Sequence[Generation], pad_id: int, device: torch.device | str = "cpu") -> Rollout:
    width = max(len(g.prompt_ids) + len(g.response_ids) for g in gens)
    ids = torch.full((len(gens), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(gens), width), dtype=torch.long)
    mask = torch.zeros((len(gens), width - 1), dtype=torch.bool)
    with_logprobs = all(g.logprobs is not None for g in gens)
    logprobs = torch.zeros((len(gens), width - 1), dtype=torch.float32) if with_logprobs else None
    for b, g in enumerate(gens):
        p, r = len(g.prompt_ids), len(g.response_ids)
        ids[b, : p + r] = torch.tensor(g.prompt_ids + g.response_ids)
        att[b, : p + r] = 1
        mask[b, p - 1: p + r - 1] = True
        if with_logprobs:
            logprobs[b, p - 1: p + r - 1] = torch.tensor(g.logprobs, dtype=torch.float32)
    ended = torch.tensor([g.ended for g in gens], dtype=torch.bool)
    return Rollout(ids.to(device), att.to(device), mask.to(device), ended.to(device),
                   logprobs.to(device) if with_logprobs else None)
