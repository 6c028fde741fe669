"""Critic-free RL math: GRPO and RLOO advantages, and the GRPO clipped loss with its KL term.

Both sample G answers per prompt and use the other answers to the same prompt as the baseline
that PPO's value model provides, so no value model is trained or kept in memory.

Shapes: B = P·G rows, the G answers to each prompt contiguous (row p·G + g is answer g to prompt
p); T response tokens; ``mask [B, T]`` True on valid response tokens, right-padded.

References followed:
- GRPO: Shao et al. 2024, "DeepSeekMath", §4.1 eq. 3 (loss) and §4.1.2 (outcome supervision:
  Â = (r - mean(r)) / std(r) over the group); TRL ``GRPOTrainer`` (std with Bessel's
  correction, ε = 1e-4 added to it) and its ``loss_type`` "grpo" / "dapo".
- DAPO: Yu et al. 2025, §3.3 "token-level policy gradient loss" (eq. 12): one mean over every
  token of the batch, so long answers are not down-weighted per token.
- RLOO: Ahmadian et al. 2024, "Back to Basics", eq. 10: baseline the mean of the other G-1
  scores; TRL ``RLOOTrainer`` (KL folded into the sequence reward).
- KL estimator k3 in the loss: http://joschu.net/blog/kl-approx.html, as DeepSeekMath eq. 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kaizen.lazy import lazy_import
from kaizen.losses.ppo import clipped_surrogate, masked_mean

torch = lazy_import("torch")

LossNormalisation = Literal["sequence", "token"]


def _groups(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    if group_size < 2:
        raise ValueError(f"group_size must be at least 2 (the baseline is the other answers), got {group_size}")
    if scores.ndim != 1 or scores.shape[0] % group_size:
        raise ValueError(f"scores must be [P*G] with G={group_size} answers per prompt, got shape {tuple(scores.shape)}")
    return scores.float().view(-1, group_size)


def group_normalised_advantages(scores: torch.Tensor, group_size: int, scale_by_std: bool = True,
                                eps: float = 1e-4) -> torch.Tensor:
    """GRPO outcome advantages ``[B]``: ``(r - mean_group) / (std_group + eps)``.

    ``std`` is Bessel-corrected, as TRL's; ``scale_by_std=False`` keeps only the centring
    (Dr. GRPO, Liu et al. 2025: the std division favours prompts that are too easy or too hard).
    A group whose answers all scored the same gets advantage 0.
    """
    g = _groups(scores, group_size)
    centred = g - g.mean(dim=1, keepdim=True)
    if scale_by_std:
        centred = centred / (g.std(dim=1, keepdim=True) + eps)
    return centred.reshape(-1)


def leave_one_out_advantages(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO advantages ``[B]``: ``r_i - mean_{j≠i} r_j`` over the G answers to the same prompt."""
    g = _groups(scores, group_size)
    baseline = (g.sum(dim=1, keepdim=True) - g) / (group_size - 1)
    return (g - baseline).reshape(-1)


def sequence_kl_penalised_scores(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor,
                                 kl_coef: float) -> torch.Tensor:
    """KL in the reward: ``r - β Σ_t KL_t`` per answer ``[B]`` (RLOO; GRPO with ``kl_in=reward``).

    ``kl [B, T]`` per-token estimates (e.g. from ``kl_penalty_rewards``), 0 on padding.
    """
    return scores - kl_coef * (kl * mask.to(kl.dtype)).sum(dim=1)


@dataclass(frozen=True)
class CriticFreeStats:
    """Detached scalars from ``clipped_policy_loss``."""

    clip_frac: torch.Tensor
    approx_kl: torch.Tensor
    """k3 estimate of KL(π_old ‖ π) over valid tokens."""
    ref_kl: torch.Tensor
    """k3 estimate of KL(π ‖ π_ref) over valid tokens (the term of the loss when ``kl_coef`` > 0)."""


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    normalisation: LossNormalisation = "sequence",
) -> tuple[torch.Tensor, CriticFreeStats]:
    """GRPO's objective as a loss (DeepSeekMath eq. 3), one advantage per answer.

        ℓ_t = -min(ρ_t Â, clip(ρ_t, 1-ε, 1+ε) Â) + β KL_k3(π ‖ π_ref)_t,   ρ_t = π(y_t) / π_old(y_t)

    Args:
        logprobs, old_logprobs: ``[B, T]``; ref_logprobs ``[B, T]`` (needed when ``kl_coef`` > 0).
        advantages: ``[B]`` sequence advantages, broadcast over each answer's tokens.
        normalisation: ``"sequence"``: mean over each answer's tokens, then over answers (GRPO);
            ``"token"``: one mean over all valid tokens of the batch (DAPO eq. 12).

    Returns:
        ``(loss, stats)``; rows without a valid token contribute nothing.
    """
    m = mask.to(logprobs.dtype)
    surrogate = clipped_surrogate(logprobs, old_logprobs, advantages.to(logprobs.dtype).unsqueeze(1), mask, clip_eps)
    per_token = surrogate.per_token
    ref_kl = torch.zeros_like(per_token)
    if kl_coef > 0:
        if ref_logprobs is None:
            raise ValueError("kl_coef > 0 puts the KL term in the loss: pass ref_logprobs")
        ref_log_ratio = (ref_logprobs - logprobs).masked_fill(~mask, 0.0)
        ref_kl = torch.expm1(ref_log_ratio) - ref_log_ratio
        per_token = per_token + kl_coef * ref_kl
    if normalisation == "sequence":
        has_tokens = mask.any(dim=1)
        per_answer = (per_token * m).sum(1) / m.sum(1).clamp(min=1)
        loss = per_answer[has_tokens].sum() / has_tokens.sum().clamp(min=1)
    elif normalisation == "token":
        loss = masked_mean(per_token, mask)
    else:
        raise ValueError(f"normalisation must be 'sequence' or 'token', got {normalisation!r}")
    with torch.no_grad():
        stats = CriticFreeStats(clip_frac=surrogate.clip_frac, approx_kl=surrogate.approx_kl,
                                ref_kl=masked_mean(ref_kl, mask))
    return loss, stats
