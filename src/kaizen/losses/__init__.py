"""Pure loss and RL-math functions (torch only): tensors in, tensors out.

- ``sft``: next-token NLL with ignored labels, log-prob gathering (pretrain, SFT, ptx, DPO).
- ``ranking``: InstructGPT eq. 1 reward-model loss over K-way rankings with ties.
- ``ppo``: KL-penalised per-token rewards, GAE, whitening, clipped policy/value losses, ptx.
- ``kl``: fixed and adaptive KL-coefficient controllers (Ziegler et al. 2019).
- ``dpo``: DPO / IPO / hinge preference losses, matching TRL.
"""

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
    "FixedKLController",
    "PolicyStats",
    "RankingStats",
    "ValueStats",
    "apply_eos_penalty",
    "count_target_tokens",
    "dpo_loss",
    "entropy_from_logits",
    "gae",
    "kl_penalty_rewards",
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
    "sequence_logprob",
    "strict_pairs",
    "token_logprobs",
    "value_loss",
]
