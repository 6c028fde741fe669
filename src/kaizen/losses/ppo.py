"""PPO-ptx math for RLHF: per-token rewards, GAE, whitening, clipped losses, ptx term.

Objective (InstructGPT, Ouyang et al. 2022, eq. 2):
    E_{(x,y)~π_RL}[ r_θ(x, y) - β log(π_RL(y|x) / π_SFT(y|x)) ] + γ E_{x~D_pretrain}[ log π_RL(x) ]

Shapes: B responses, T response tokens, V vocabulary. ``mask [B, T]`` is True on the valid
response tokens of each row, right-padded (valid tokens first, then padding); rows may have
different lengths and a row may have none. Every output is 0 on padding.

References followed:
- Ziegler et al. 2019, "Fine-Tuning LMs from Human Preferences", and its code
  https://github.com/openai/lm-human-preferences (train_policy.py: rewards, whiten, losses).
- Huang et al. 2024, "The N+ Implementation Details of RLHF with PPO", and
  https://github.com/vwxyzjn/lm-human-preference-details (train_policy_accelerate.py).
- TRL's PPOTrainer (trl/trainer/ppo_trainer.py up to v0.2x; now trl.experimental) and
  torchtune's torchtune/rlhf/rewards.py + rlhf/loss/ppo.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kaizen.lazy import lazy_import
from kaizen.losses.sft import masked_lm_loss

torch = lazy_import("torch")


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over ``mask`` (same shape), over ``dim`` or everything; 0 where empty."""
    m = mask.to(x.dtype)
    if dim is None:
        return (x * m).sum() / m.sum().clamp(min=1)
    return (x * m).sum(dim) / m.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Scalar variance of the masked entries; Bessel-corrected by default, as TRL's ``masked_var``."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n < 2:
            raise ValueError(f"unbiased masked_var needs at least 2 valid entries, got {int(n)}")
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """``(x - mean) / sqrt(var + 1e-8)`` over the masked entries; padding set to 0.

    ``shift_mean=False`` adds the mean back (scale only), the flag's meaning in
    lm-human-preferences ``utils.whiten`` and TRL ``masked_whiten`` (used for reward whitening).
    """
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(x.dtype)


def _last_valid_onehot(mask: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` one-hot of each row's last True position (all zero for an empty row)."""
    t = mask.shape[1]
    idx = torch.arange(t, device=mask.device).expand_as(mask)
    last = torch.where(mask, idx, -1).max(dim=1).values  # -1 when the row is empty
    return (idx == last.unsqueeze(1)) & mask


def kl_penalty_rewards(
    score: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    kl_estimator: Literal["k1", "k3"] = "k1",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: ``-β·KL_t`` at every valid token, plus the RM score at the last one.

    Args:
        score: ``[B]`` reward-model score of each full response.
        logprobs, ref_logprobs: ``[B, T]`` log π(y_t) and log π_SFT(y_t); padding may hold anything.
        mask: ``[B, T]`` bool.
        kl_coef: β (0.02 in InstructGPT App. C.4; set by the KL controller).
        kl_estimator: ``"k1"``: log π - log π_ref (Ziegler; InstructGPT). ``"k3"``:
            (r - 1) - log r with r = π_ref/π, non-negative and lower variance
            (http://joschu.net/blog/kl-approx.html; TRL ``kl_estimator="k3"``).

    Returns:
        ``(rewards [B, T], kl [B, T])``, both 0 on padding. The score sits on the last valid
        token as in lm-human-preferences (``rewards[:, -1] += scores``) and torchtune
        ``get_rewards_ppo(valid_score_idxs=...)``; an empty row gets no score.
    """
    logr = (ref_logprobs - logprobs).masked_fill(~mask, 0.0)
    if kl_estimator == "k1":
        kl = -logr
    elif kl_estimator == "k3":
        kl = torch.expm1(logr) - logr
    else:
        raise ValueError(f"kl_estimator must be 'k1' or 'k3', got {kl_estimator!r}")
    rewards = -kl_coef * kl
    rewards = rewards + _last_valid_onehot(mask).to(rewards.dtype) * score.unsqueeze(1).to(rewards.dtype)
    return rewards, kl


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised Advantage Estimation (Schulman et al. 2016, eq. 16), vectorised over B.

        δ_t = r_t + γ V_{t+1} - V_t,    A_t = δ_t + γλ A_{t+1},    R_t = A_t + V_t

    The episode ends at each row's last valid token: V and A after it are 0 (bootstrap 0).
    Same recursion as lm-human-preferences / TRL / torchtune ``estimate_advantages``.

    Args:
        rewards, values: ``[B, T]``; mask: ``[B, T]`` bool, right-padded.

    Returns:
        ``(advantages [B, T], returns [B, T])``, 0 on padding, not whitened (see ``masked_whiten``).
    """
    m = mask.to(values.dtype)
    v = values * m
    r = rewards * m
    next_v = torch.cat([v[:, 1:], torch.zeros_like(v[:, :1])], dim=1)
    deltas = r + gamma * next_v - v
    last = torch.zeros_like(v[:, 0])
    advantages = torch.zeros_like(v)
    for t in reversed(range(v.shape[1])):
        last = (deltas[:, t] + gamma * lam * last) * m[:, t]
        advantages[:, t] = last
    return advantages, (advantages + v) * m


@dataclass(frozen=True)
class PolicyStats:
    """Detached scalars from ``policy_loss``."""

    clip_frac: torch.Tensor
    """Fraction of valid tokens where the clipped term was the active one."""
    approx_kl: torch.Tensor
    """k3 estimate of KL(π_old ‖ π): mean of (ratio - 1) - log ratio (CleanRL's ``approx_kl``)."""
    ratio_mean: torch.Tensor


@dataclass(frozen=True)
class ValueStats:
    """Detached scalars from ``value_loss``."""

    clip_frac: torch.Tensor
    mse: torch.Tensor
    """Mean of (V - R)^2 over valid tokens, unclipped."""


@dataclass(frozen=True)
class Surrogate:
    per_token: torch.Tensor
    """``max(-A ρ, -A clip(ρ, 1-ε, 1+ε))`` per token ``[B, T]`` (not yet masked or averaged)."""
    ratio: torch.Tensor
    clip_frac: torch.Tensor
    approx_kl: torch.Tensor
    """k3 estimate of KL(π_old ‖ π) over valid tokens (no gradient)."""


def clipped_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
) -> Surrogate:
    """The clipped surrogate PPO and GRPO share; ``advantages`` ``[B, T]`` or broadcastable to it."""
    log_ratio = (logprobs - old_logprobs).masked_fill(~mask, 0.0)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    with torch.no_grad():
        clip_frac = masked_mean((clipped > unclipped).to(ratio.dtype), mask)
        approx_kl = masked_mean((ratio - 1) - log_ratio, mask)
    return Surrogate(torch.maximum(unclipped, clipped), ratio, clip_frac, approx_kl)


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
) -> tuple[torch.Tensor, PolicyStats]:
    """PPO clipped surrogate (Schulman et al. 2017, eq. 7), masked mean over valid tokens.

    ``loss = mean_t max(-A_t ρ_t, -A_t clip(ρ_t, 1-ε, 1+ε))``, ρ_t = π(y_t)/π_old(y_t).
    All inputs ``[B, T]``; as TRL ``pg_losses``/``pg_losses2`` and torchtune ``PPOLoss``.
    """
    s = clipped_surrogate(logprobs, old_logprobs, advantages, mask, clip_eps)
    loss = masked_mean(s.per_token, mask)
    with torch.no_grad():
        stats = PolicyStats(clip_frac=s.clip_frac, approx_kl=s.approx_kl, ratio_mean=masked_mean(s.ratio, mask))
    return loss, stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_eps_value: float,
) -> tuple[torch.Tensor, ValueStats]:
    """Clipped value loss: ``0.5 · mean_t max((V - R)^2, (clip(V, V_old ± ε) - R)^2)``.

    All inputs ``[B, T]``; as lm-human-preferences ``vf_losses`` and TRL / torchtune.
    """
    clipped_v = torch.clamp(values, old_values - clip_eps_value, old_values + clip_eps_value)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped_v - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)
    with torch.no_grad():
        stats = ValueStats(
            clip_frac=masked_mean((loss_clipped > loss_unclipped).to(values.dtype), mask),
            mse=masked_mean(loss_unclipped, mask),
        )
    return loss, stats


def entropy_from_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean entropy (nats) of ``softmax(logits [B, T, V])`` over ``mask [B, T]``.

    H = logsumexp(l) - Σ softmax(l)·l, one row at a time in float32 (TRL ``entropy_from_logits``
    also chunks to bound memory).
    """
    ent = []
    for row in logits:
        row = row.float()
        ent.append(torch.logsumexp(row, -1) - (torch.softmax(row, -1) * row).sum(-1))
    return masked_mean(torch.stack(ent), mask)


def ptx_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ptx_coef: float,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Pretraining-mix term of PPO-ptx: ``γ · NLL`` on a pretraining batch (scalar).

    InstructGPT eq. 2 *adds* γ E_{x~D_pretrain}[log π(x)] to the objective it maximises, so the
    loss we minimise is γ times the token-mean negative log-likelihood. γ = 27.8 in the paper
    (App. C.4), tied to their batch/loss scaling; here it is the PPO stage's configurable
    ``ptx_coef``. ``logits [B, T, V]``, ``labels [B, T]`` as in ``masked_lm_loss``.
    """
    return ptx_coef * masked_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)


def apply_eos_penalty(
    score: torch.Tensor,
    ended: torch.Tensor,
    penalty: float,
    mode: Literal["replace", "add"] = "replace",
) -> torch.Tensor:
    """Penalise responses that never emitted EOS (cut off at the length limit).

    Args:
        score: ``[B]`` RM scores. ended: ``[B]`` bool, True when the response contains EOS.
        penalty: for ``"replace"`` the score given instead (N+ details, detail "EOS trick":
            ``penalty_reward_value = -1`` replaces the score, so a truncated response can never
            out-score a finished one by gaming the RM); for ``"add"`` a value added to the score
            (TRL's ``missing_eos_penalty`` subtracts a positive constant: pass its negative).

    Returns:
        ``[B]`` new scores; responses that ended are unchanged.
    """
    if mode == "replace":
        penalised = torch.full_like(score, penalty)
    elif mode == "add":
        penalised = score + penalty
    else:
        raise ValueError(f"mode must be 'replace' or 'add', got {mode!r}")
    return torch.where(ended, score, penalised)
