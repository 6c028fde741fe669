"""Padding-free forward passes over right-padded rows: one packed sequence, logits only where read.

PPO's rollouts are right-padded to the longest prompt + answer of the batch. In the demo the
median row is ~40 tokens and the longest ~100, so padded passes spend over half their FLOPs on
padding, and the LM head (vocab 2048 on a 192-wide model: a fifth of its FLOPs) on prompt
positions whose log-probs nobody reads. Here the rows are concatenated into one sequence whose
position ids restart at every row, so `transformers` builds a block-diagonal causal mask (no
attention across rows; ``find_packed_sequence_indices`` in ``masking_utils``), and the LM head
runs only where ``mask`` is true (``logits_to_keep`` given as positions).

Same numbers as the padded pass up to float rounding (tests/test_packing.py); models whose
attention ignores ``position_ids`` would mix rows, which ``matches_padded`` detects.

Shapes: B rows, L columns; ``mask [B, L-1]`` in the shifted frame of ``kaizen.ppo_rollout``
(position j predicts token j+1); K = ``mask.sum()`` kept positions; N = real tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaizen.lazy import lazy_import
from kaizen.losses.sft import token_logprobs

torch = lazy_import("torch")


@dataclass(frozen=True)
class PackedRows:
    input_ids: torch.Tensor  # [1, N] the rows' real tokens, one after another
    position_ids: torch.Tensor  # [1, N] 0.. len_b - 1 for each row
    keep: torch.Tensor  # [K] packed positions whose next-token prediction is read
    targets: torch.Tensor  # [K] the token each kept position predicts
    mask: torch.Tensor  # [B, L-1] where the K results go back


def pack_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor, mask: torch.Tensor) -> PackedRows:
    """Pack right-padded rows ``[B, L]``; ``mask [B, L-1]`` must lie inside each row's real tokens."""
    valid = attention_mask.bool()
    lengths = valid.sum(1)
    starts = torch.cumsum(lengths, 0) - lengths
    flat = input_ids[valid]
    positions = (torch.cumsum(valid.long(), 1) - 1)[valid]
    rows, cols = mask.nonzero(as_tuple=True)  # row-major: the order masked_scatter fills back
    keep = starts[rows] + cols
    return PackedRows(flat.unsqueeze(0), positions.unsqueeze(0), keep, flat[keep + 1], mask)


def row_chunks(attention_mask: torch.Tensor, max_tokens: int = 1024) -> list[slice]:
    """Consecutive row ranges of at most ``max_tokens`` real tokens each (a longer row goes alone).

    A packed block attends over its whole length (a dense block-diagonal mask), so attention
    grows with the square of the block: past ~1k tokens it would eat what packing saves.
    """
    lengths = attention_mask.sum(1).tolist()
    chunks, start, total = [], 0, 0
    for i, n in enumerate(lengths):
        if i > start and total + n > max_tokens:
            chunks.append(slice(start, i))
            start, total = i, 0
        total += n
    chunks.append(slice(start, len(lengths)))
    return chunks


def unpack(values: torch.Tensor, packed: PackedRows) -> torch.Tensor:
    """``[K]`` -> ``[B, L-1]``, zero outside the mask (differentiable)."""
    return values.new_zeros(packed.mask.shape).masked_scatter(packed.mask, values)


def packed_logprobs(model, packed: PackedRows) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logprobs [B, L-1] zero outside the mask, logits [K, V] at the kept positions)``."""
    out = model(input_ids=packed.input_ids, position_ids=packed.position_ids, logits_to_keep=packed.keep,
                use_cache=False)  # a cache would also switch off the packed-sequence mask
    logits = out.logits[0]
    return unpack(token_logprobs(logits.unsqueeze(0), packed.targets.unsqueeze(0))[0], packed), logits


def packed_hidden_states(model, packed: PackedRows) -> torch.Tensor:
    """``[K, H]`` final hidden states at the kept positions (for a value head)."""
    out = model(input_ids=packed.input_ids, position_ids=packed.position_ids, output_hidden_states=True,
                use_cache=False)
    return out.hidden_states[-1][0, packed.keep]


def matches_padded(padded_logprobs: torch.Tensor, packed_logprobs_: torch.Tensor, mask: torch.Tensor,
                   tol: float = 1e-3) -> bool:
    """Whether a packed pass gave the padded pass's log-probs (fp32 rounding is ~1e-6)."""
    diff = (padded_logprobs - packed_logprobs_).abs().masked_fill(~mask, 0.0)
    return bool(diff.max() <= tol)
