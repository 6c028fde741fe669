"""Reward-model loss from K-way rankings (InstructGPT, Ouyang et al. 2022, eq. 1).

    loss(θ) = -1/C(K,2) · E_{(x, y_w, y_l) ~ D} [ log σ(r_θ(x, y_w) - r_θ(x, y_l)) ]

One prompt with its K ranked answers is one batch element: its K answers are scored together and
all of its pairs enter the loss at once, as InstructGPT does to avoid overfitting from seeing a
comparison in several updates (§3.5, "Reward modeling"). K varies between prompts (4..9 in the
paper): pad to the largest K and set ``answer_mask`` False on the padding.

Ties. InstructGPT's labelers produce a total order, so a prompt has exactly C(K,2) pairs. Our
labelers may tie answers (equal rank). A tie says nothing about which answer is better, so it
yields no pair, and each prompt is normalised by the number of *strict* pairs it actually has,
C_b, not by C(K,2). Without ties C_b = C(K,2) and this is eq. 1 exactly. A prompt whose answers
all tie has C_b = 0; it contributes nothing and is left out of the mean over prompts.

Shapes: B prompts, K answer slots per prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaizen.lazy import lazy_import

torch = lazy_import("torch")
F = lazy_import("torch.nn.functional")


@dataclass(frozen=True)
class RankingStats:
    """Detached scalar tensors describing one batch of rankings."""

    accuracy: torch.Tensor
    """Fraction of strict pairs with r_w > r_l (a tie in reward counts as wrong)."""
    margin: torch.Tensor
    """Mean of r_w - r_l over the strict pairs."""
    num_pairs: torch.Tensor
    """Number of strict pairs in the batch."""
    num_prompts: torch.Tensor
    """Number of prompts with at least one strict pair (the ones in the mean)."""


def strict_pairs(ranks: torch.Tensor, answer_mask: torch.Tensor) -> torch.Tensor:
    """``[B, K, K]`` bool: ``[b, w, l]`` True when answer w is strictly better ranked than l.

    Args:
        ranks: ``[B, K]`` long, 1 = best; equal values are ties.
        answer_mask: ``[B, K]`` bool, False on padding slots.
    """
    better = ranks.unsqueeze(2) < ranks.unsqueeze(1)
    both = answer_mask.unsqueeze(2) & answer_mask.unsqueeze(1)
    return better & both


def ranking_loss(
    rewards: torch.Tensor, ranks: torch.Tensor, answer_mask: torch.Tensor
) -> tuple[torch.Tensor, RankingStats]:
    """InstructGPT eq. 1 over every strict pair of every prompt, ties allowed.

    Args:
        rewards: ``[B, K]`` float, r_θ(x_b, y_bk).
        ranks: ``[B, K]`` long, 1 = best, equal = tie; values on padding slots are ignored.
        answer_mask: ``[B, K]`` bool.

    Returns:
        ``(loss, stats)``: ``loss`` is the scalar
        ``mean_b [ -1/C_b · Σ_{rank_w < rank_l} log σ(r_w - r_l) ]`` over prompts with C_b > 0
        (0, still attached to the graph, when no prompt has a pair). For K = 2 this is the
        pairwise loss ``-log σ(r_chosen - r_rejected)`` averaged over the batch.
    """
    pairs = strict_pairs(ranks, answer_mask)
    rewards = rewards.masked_fill(~answer_mask, 0.0)  # padding may hold NaN/garbage scores
    diff = rewards.unsqueeze(2) - rewards.unsqueeze(1)  # [B, K, K]: r_w - r_l
    pair_f = pairs.to(diff.dtype)
    per_prompt_pairs = pair_f.sum(dim=(1, 2))  # C_b
    per_prompt_loss = -(F.logsigmoid(diff) * pair_f).sum(dim=(1, 2))
    has_pairs = per_prompt_pairs > 0
    n_prompts = has_pairs.sum()
    per_prompt_mean = per_prompt_loss / per_prompt_pairs.clamp(min=1)
    loss = (per_prompt_mean * has_pairs).sum() / n_prompts.clamp(min=1)

    with torch.no_grad():
        n_pairs = pair_f.sum()
        denom = n_pairs.clamp(min=1)
        stats = RankingStats(
            accuracy=((diff > 0).to(diff.dtype) * pair_f).sum() / denom,
            margin=(diff * pair_f).sum() / denom,
            num_pairs=n_pairs,
            num_prompts=n_prompts,
        )
    return loss, stats


def pairwise_accuracy(
    rewards: torch.Tensor, ranks: torch.Tensor, answer_mask: torch.Tensor
) -> torch.Tensor:
    """Fraction of strict pairs that ``rewards [B, K]`` orders like ``ranks [B, K]`` (scalar).

    The RM validation accuracy InstructGPT reports; a tie in reward counts as wrong.
    """
    pairs = strict_pairs(ranks, answer_mask)
    diff = rewards.unsqueeze(2) - rewards.unsqueeze(1)
    correct = (diff > 0) & pairs
    return correct.sum().to(rewards.dtype) / pairs.sum().clamp(min=1).to(rewards.dtype)


def reward_bias(demo_rewards: torch.Tensor) -> torch.Tensor:
    """Scalar bias = mean RM score of the labeler demonstrations ``[N]``.

    InstructGPT §3.5: the RM loss is invariant to a shift of the reward, so after training the
    RM is normalised with a bias that gives the labeler demonstrations a mean score of 0
    before RL. Subtract it from every score (see ``normalize_rewards``).
    """
    return demo_rewards.detach().float().mean()


def normalize_rewards(rewards: torch.Tensor, demo_rewards: torch.Tensor) -> torch.Tensor:
    """``rewards`` (any shape) shifted so the demonstrations ``[N]`` average 0."""
    return rewards - reward_bias(demo_rewards).to(rewards.dtype)
