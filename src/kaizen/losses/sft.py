"""Next-token losses and log-prob gathering shared by pretraining, SFT, RM, PPO-ptx and DPO.

All functions are pure (tensors in, tensors out). Shape letters: B batch, T sequence length,
V vocabulary. Labels use ``IGNORE_INDEX`` (-100) for positions that must not be trained on
(prompt tokens in SFT, padding everywhere), the Hugging Face convention.

The shift lives *inside* these functions: ``logits[:, t]`` predicts ``labels[:, t + 1]``, so the
caller passes the same ``input_ids``-aligned labels that a Hugging Face causal LM accepts.

Gradient accumulation: a mean per micro-batch weights tokens unequally when micro-batches hold
different numbers of target tokens, so 8 micro-batches of 1 would not equal 1 batch of 8. Pass
``num_items_in_batch`` (the number of target tokens over *all* micro-batches of the optimizer
step) and the loss becomes ``sum / num_items_in_batch``; summing those over the micro-batches
gives exactly the full-batch mean. This is the fix transformers adopted
(https://huggingface.co/blog/gradient_accumulation, ``ForCausalLMLoss(num_items_in_batch=...)``).
"""

from __future__ import annotations

from typing import Literal

from kaizen.lazy import lazy_import

torch = lazy_import("torch")


IGNORE_INDEX = -100


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of ``tokens`` under ``logits``, position by position (no shift).

    Args:
        logits: ``[B, T, V]`` unnormalised scores.
        tokens: ``[B, T]`` token ids, all in ``[0, V)`` (replace ignored labels before calling).

    Returns:
        ``[B, T]`` float32 ``log softmax(logits)[b, t, tokens[b, t]]``.

    Computed as ``gather(logits) - logsumexp(logits)`` one row at a time in float32, so no
    ``[B, T, V]`` log-softmax is materialised and bf16 logits are upcast a row at a time.
    Same trick as TRL's ``selective_log_softmax`` (trl/trainer/utils.py).
    """
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1).float()
    lse = torch.stack([torch.logsumexp(row.float(), dim=-1) for row in logits])
    return picked - lse


def _shifted_targets(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T-1]`` log-probs of the shifted targets, and the ``[B, T-1]`` bool target mask."""
    targets = labels[:, 1:]
    mask = targets != ignore_index
    logps = token_logprobs(logits[:, :-1], targets.masked_fill(~mask, 0))
    return logps * mask, mask


def masked_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    reduction: Literal["mean", "sum"] = "mean",
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Causal-LM negative log-likelihood over the non-ignored shifted targets.

    Args:
        logits: ``[B, T, V]``.
        labels: ``[B, T]`` aligned with the inputs; ``ignore_index`` marks untrained positions.
        num_items_in_batch: target-token count over every micro-batch of the optimizer step.
            When given, returns ``sum(NLL) / num_items_in_batch`` (gradient accumulation that
            equals the full batch exactly); ``reduction`` is then ignored.
        reduction: ``"mean"``: ``sum(NLL) / (#targets here)``; ``"sum"``: ``sum(NLL)``.

    Returns:
        Scalar loss. 0 (with a graph) when there is no target token at all.
    """
    logps, mask = _shifted_targets(logits, labels, ignore_index)
    nll_sum = -logps.sum()
    if num_items_in_batch is not None:
        return nll_sum / num_items_in_batch
    if reduction == "sum":
        return nll_sum
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return nll_sum / mask.sum().clamp(min=1)


def count_target_tokens(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> int:
    """Number of shifted targets in ``labels [B, T]``: what ``num_items_in_batch`` sums."""
    return int((labels[:, 1:] != ignore_index).sum())


def sequence_logprob(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Summed log-probability of each sequence's non-ignored shifted targets.

    Args:
        logits: ``[B, T, V]``.
        labels: ``[B, T]``; ``ignore_index`` for prompt and padding.

    Returns:
        ``[B]`` ``sum_t log pi(labels[b, t+1] | labels[b, :t+1])`` over targets; the quantity
        DPO calls ``log pi(y|x)`` (Rafailov et al. 2023, eq. 7; TRL sums the same way).
    """
    logps, _ = _shifted_targets(logits, labels, ignore_index)
    return logps.sum(dim=-1)
