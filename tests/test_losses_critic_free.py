"""GRPO / RLOO advantages and the GRPO loss against values computed by hand."""

import math

import pytest
import torch

from kaizen.losses.critic_free import (clipped_policy_loss, group_normalised_advantages, leave_one_out_advantages,
                                       sequence_kl_penalised_scores)


def test_group_normalised_advantages_by_hand():
    # Group [0, 3, 6]: mean 3, Bessel std sqrt((9 + 0 + 9) / 2) = 3; group [2, 2, 2]: all equal -> 0.
    adv = group_normalised_advantages(torch.tensor([0.0, 3.0, 6.0, 2.0, 2.0, 2.0]), group_size=3)
    torch.testing.assert_close(adv, torch.tensor([-3 / 3.0001, 0.0, 3 / 3.0001, 0.0, 0.0, 0.0]))
    centred = group_normalised_advantages(torch.tensor([0.0, 3.0, 6.0]), group_size=3, scale_by_std=False)
    torch.testing.assert_close(centred, torch.tensor([-3.0, 0.0, 3.0]))


def test_leave_one_out_advantages_by_hand():
    # [0, 3, 6]: baselines (3+6)/2, (0+6)/2, (0+3)/2; [1, 5, 3]: baselines 4, 2, 3.
    adv = leave_one_out_advantages(torch.tensor([0.0, 3.0, 6.0, 1.0, 5.0, 3.0]), group_size=3)
    torch.testing.assert_close(adv, torch.tensor([-4.5, 0.0, 4.5, -3.0, 3.0, 0.0]))


def test_groups_must_divide_the_batch():
    with pytest.raises(ValueError, match="G=4"):
        leave_one_out_advantages(torch.zeros(6), group_size=4)
    with pytest.raises(ValueError, match="at least 2"):
        group_normalised_advantages(torch.zeros(6), group_size=1)


def test_kl_in_reward_subtracts_the_answers_summed_kl():
    kl = torch.tensor([[0.1, 0.2, 9.0], [0.3, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = sequence_kl_penalised_scores(torch.tensor([1.0, 2.0]), kl, mask, kl_coef=0.5)
    torch.testing.assert_close(out, torch.tensor([0.85, 1.85]))


def _batch():
    # Row 0: ratios 1.5 and 0.5 with Â = 1; row 1: ratio 1.1 with Â = -2; row 2: no valid token.
    lp = torch.log(torch.tensor([[1.5, 0.5], [1.1, 7.0], [3.0, 3.0]]))
    mask = torch.tensor([[True, True], [True, False], [False, False]])
    return lp, torch.zeros(3, 2), torch.tensor([1.0, -2.0, 5.0]), mask


def test_clipped_policy_loss_by_hand():
    lp, old, adv, mask = _batch()
    # Per token: -min(1.5, 1.2) = -1.2; -min(0.5, 0.8) = -0.5; -min(-2.2, -2.2) = 2.2.
    seq, stats = clipped_policy_loss(lp, old, adv, mask, clip_eps=0.2, normalisation="sequence")
    torch.testing.assert_close(seq, torch.tensor(((-1.2 - 0.5) / 2 + 2.2) / 2))  # 0.675: the empty row counts for nothing
    tok, _ = clipped_policy_loss(lp, old, adv, mask, clip_eps=0.2, normalisation="token")
    torch.testing.assert_close(tok, torch.tensor((-1.2 - 0.5 + 2.2) / 3))  # DAPO: every token weighs the same
    torch.testing.assert_close(stats.clip_frac, torch.tensor(1 / 3))  # only the 1.5 ratio was clipped
    assert stats.ref_kl.item() == 0.0


def test_kl_in_the_loss_adds_the_k3_estimate():
    lp, old, adv, mask = _batch()
    # k3 with r = π_ref/π, π_ref = 1: r = 1/1.5, 2, 1/1.1 -> (r - 1) - log r.
    k3 = [(r - 1) - math.log(r) for r in (1 / 1.5, 2.0, 1 / 1.1)]
    loss, stats = clipped_policy_loss(lp, old, adv, mask, clip_eps=0.2, ref_logprobs=torch.zeros(3, 2), kl_coef=0.1)
    expected = ((-1.2 + 0.1 * k3[0] - 0.5 + 0.1 * k3[1]) / 2 + 2.2 + 0.1 * k3[2]) / 2
    torch.testing.assert_close(loss, torch.tensor(expected))
    torch.testing.assert_close(stats.ref_kl, torch.tensor(sum(k3) / 3))
    with pytest.raises(ValueError, match="ref_logprobs"):
        clipped_policy_loss(lp, old, adv, mask, clip_eps=0.2, kl_coef=0.1)


def test_gradient_flows_only_through_the_unclipped_tokens():
    lp, old, adv, mask = _batch()
    lp = lp.clone().requires_grad_(True)
    loss, _ = clipped_policy_loss(lp, old, adv, mask, clip_eps=0.2)
    loss.backward()
    # d/dlp of -Â ρ is -Â ρ / n_row / n_rows: row 0 token 1 -1·0.5/2/2, row 1 token 0 2·1.1/1/2; clipped token 0.
    torch.testing.assert_close(lp.grad, torch.tensor([[0.0, -0.125], [1.1, 0.0], [0.0, 0.0]]))
