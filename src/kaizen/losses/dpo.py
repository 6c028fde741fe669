"""Direct Preference Optimization losses (Rafailov et al. 2023) and two variants.

With h = [log π(y_w|x) - log π_ref(y_w|x)] - [log π(y_l|x) - log π_ref(y_l|x)]:

- ``"sigmoid"`` (DPO, eq. 7): ``-log σ(β h)``. With ``label_smoothing = ε > 0`` it is the
  conservative DPO of the reference code, ``-(1-ε) log σ(β h) - ε log σ(-β h)``
  (https://github.com/eric-mitchell/direct-preference-optimization, trainers.py
  ``preference_loss``), i.e. labels assumed flipped with probability ε.
- ``"hinge"`` (SLiC, Zhao et al. 2023): ``relu(1 - β h)``.
- ``"ipo"`` (Azar et al. 2023, eq. 17): ``(h - 1/(2β))^2``. TRL divides each log-ratio by
  its completion length first; pass ``chosen_lengths`` / ``rejected_lengths`` to do the same.

Numerically identical to TRL's ``DPOTrainer._compute_loss`` (trl 1.16) for these loss types,
which the tests check by running TRL's code; TRL's ``sigmoid`` ignores ``label_smoothing``
(cDPO lives in its other loss types), so with ε > 0 compare against the formula above.
Implicit rewards ``β (log π - log π_ref)`` are returned detached, as TRL logs them.

Shapes: B preference pairs; every input is ``[B]`` summed log-probs (``sequence_logprob``).
"""

from __future__ import annotations

from typing import Literal

from kaizen.lazy import lazy_import

torch = lazy_import("torch")
F = lazy_import("torch.nn.functional")


DPOLossType = Literal["sigmoid", "ipo", "hinge"]


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    label_smoothing: float = 0.0,
    loss_type: DPOLossType = "sigmoid",
    *,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair preference loss and implicit rewards.

    Args:
        policy_chosen_logps, policy_rejected_logps: ``[B]`` log π(y|x) under the policy.
        ref_chosen_logps, ref_rejected_logps: ``[B]`` the same under the frozen reference.
        beta: β, strength of the implicit KL constraint (τ for IPO). 0.1 is TRL's default.
        label_smoothing: ε ∈ [0, 0.5), only for ``"sigmoid"`` (cDPO).
        loss_type: ``"sigmoid"`` | ``"ipo"`` | ``"hinge"``.
        chosen_lengths, rejected_lengths: ``[B]`` completion token counts; IPO only,
            divides each log-ratio by its length (TRL's IPO). Omit for the paper's raw form.

    Returns:
        ``(losses [B], chosen_rewards [B], rejected_rewards [B])``; take ``losses.mean()``.
    """
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    if label_smoothing and loss_type != "sigmoid":
        raise ValueError(f"label_smoothing is only defined for loss_type='sigmoid', not {loss_type!r}")
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    h = chosen_logratios - rejected_logratios

    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    elif loss_type == "ipo":
        if (chosen_lengths is None) != (rejected_lengths is None):
            raise ValueError("pass both chosen_lengths and rejected_lengths, or neither")
        if chosen_lengths is not None:
            h = chosen_logratios / chosen_lengths.clamp(min=1) - rejected_logratios / rejected_lengths.clamp(min=1)
        losses = (h - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"loss_type must be 'sigmoid', 'ipo' or 'hinge', got {loss_type!r}")

    chosen_rewards = beta * chosen_logratios.detach()
    rejected_rewards = beta * rejected_logratios.detach()
    return losses, chosen_rewards, rejected_rewards
