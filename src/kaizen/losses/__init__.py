"""Pure loss and RL-math functions (torch only): tensors in, tensors out.

- ``sft``: next-token NLL with ignored labels, log-prob gathering (pretrain, SFT, ptx, DPO).
- ``ranking``: InstructGPT eq. 1 reward-model loss over K-way rankings with ties.
- ``ppo``: KL-penalised per-token rewards, GAE, whitening, clipped policy/value losses, ptx.
- ``critic_free``: GRPO group-normalised and RLOO leave-one-out advantages, GRPO/DAPO clipped loss.
- ``kl``: fixed and adaptive KL-coefficient controllers (Ziegler et al. 2019).
- ``dpo``: DPO / IPO / hinge preference losses, matching TRL.
"""

from kaizen.losses.critic_free import (
    CriticFreeStats,
    clipped_policy_loss,
    group_normalised_advantages,
    leave_one_out_advantages,
    sequence_kl_penalised_scores,
)
from kaizen.losses.dpo import dpo_loss
from kaizen.losses.kl import AdaptiveKLController, FixedKLController
from kaizen.losses.ppo import (
    PolicyStats,
    ValueStats,
    apply_eos_penalty,
    entropy_from_logits,
    gae,
    kl_penalty_rewards,
    masked_mean,
    masked_var,
    masked_whiten,
    policy_loss,
    ptx_loss,
    value_loss,
)
from kaizen.losses.ranking import (
    RankingStats,
    normalize_rewards,
    pairwise_accuracy,
    ranking_loss,
    reward_bias,
    strict_pairs,
)
from kaizen.losses.sft import (
    IGNORE_INDEX,
    count_target_tokens,
    masked_lm_loss,
    sequence_logprob,
    token_logprobs,
)

__all__ = [
    "IGNORE_INDEX",
    "AdaptiveKLController",
    "CriticFreeStats",
    "FixedKLController",
    "PolicyStats",
    "RankingStats",
    "ValueStats",
    "apply_eos_penalty",
    "clipped_policy_loss",
    "count_target_tokens",
    "dpo_loss",
    "entropy_from_logits",
    "gae",
    "group_normalised_advantages",
    "kl_penalty_rewards",
    "leave_one_out_advantages",
    "masked_lm_loss",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "normalize_rewards",
    "pairwise_accuracy",
    "policy_loss",
    "ptx_loss",
    "ranking_loss",
    "reward_bias",
    "sequence_kl_penalised_scores",
    "sequence_logprob",
    "strict_pairs",
    "token_logprobs",
    "value_loss",
]
