"""PPO math: hand-computed values, GAE against a plain per-row loop, KL controllers."""

import math

import torch

from kaizen.losses.kl import AdaptiveKLController, FixedKLController
from kaizen.losses.ppo import (
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

GARBAGE = 123.0  # what sits on padding positions; must never leak into a result


def test_kl_penalty_rewards_by_hand():
    # rows of length 3, 4 and 0; β = 0.1
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    logprobs = torch.tensor([[-1.0, -2.0, -0.5, GARBAGE], [-1.0, -1.0, -1.0, -1.0], [GARBAGE] * 4])
    ref = torch.tensor([[-1.5, -1.0, -0.5, -GARBAGE], [-1.0, -2.0, -1.0, -0.5], [-GARBAGE] * 4])
    score = torch.tensor([2.0, -1.0, 5.0])

    rewards, kl = kl_penalty_rewards(score, logprobs, ref, mask, kl_coef=0.1, kl_estimator="k1")
    # k1 = logπ - logπ_ref: row 0: [0.5, -1.0, 0.0], row 1: [0.0, 1.0, 0.0, -0.5]
    assert torch.allclose(kl, torch.tensor([[0.5, -1.0, 0.0, 0.0], [0.0, 1.0, 0.0, -0.5], [0.0] * 4]))
    # rewards = -0.1·kl, score on the last valid token (index 2 for row 0, 3 for row 1, nowhere for row 2)
    expected = torch.tensor([[-0.05, 0.1, 0.0 + 2.0, 0.0], [0.0, -0.1, 0.0, 0.05 - 1.0], [0.0] * 4])
    assert torch.allclose(rewards, expected, atol=1e-7)

    _, kl3 = kl_penalty_rewards(score, logprobs, ref, mask, kl_coef=0.1, kl_estimator="k3")
    k3 = lambda logr: math.exp(logr) - 1 - logr  # noqa: E731  logr = logπ_ref - logπ
    # row 0 logr = [-0.5, 1.0, 0.0] -> [0.1065307, 0.7182818, 0]; row 1 logr = [0, -1, 0, 0.5]
    expected3 = torch.tensor([[k3(-0.5), k3(1.0), 0.0, 0.0], [0.0, k3(-1.0), 0.0, k3(0.5)], [0.0] * 4])
    assert torch.allclose(kl3, expected3, atol=1e-6)
    assert math.isclose(k3(-0.5), 0.1065307, rel_tol=1e-6) and (kl3 >= 0).all()


def gae_reference(rewards, values, mask, gamma, lam):
    """Plain per-row loop: the episode is the row's first L = mask.sum() tokens."""
    adv = torch.zeros_like(rewards)
    for b in range(rewards.shape[0]):
        length = int(mask[b].sum())
        last = 0.0
        for t in reversed(range(length)):
            next_v = float(values[b, t + 1]) if t + 1 < length else 0.0
            delta = float(rewards[b, t]) + gamma * next_v - float(values[b, t])
            last = delta + gamma * lam * last
            adv[b, t] = last
    return adv, (adv + values) * mask


def test_gae_tiny_case_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [1.0, 0.0, GARBAGE]])
    values = torch.tensor([[0.5, 1.0, 1.5], [0.5, 1.0, GARBAGE]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)  # γλ = 0.72
    # row 0: δ2 = 2 - 1.5 = 0.5 -> A2 = 0.5
    #        δ1 = 0 + 0.9·1.5 - 1.0 = 0.35 -> A1 = 0.35 + 0.72·0.5 = 0.71
    #        δ0 = 1 + 0.9·1.0 - 0.5 = 1.4  -> A0 = 1.4 + 0.72·0.71 = 1.9112
    # row 1 ends after t=1 (V_2 := 0): δ1 = 0 + 0 - 1.0 = -1.0 -> A1 = -1.0
    #        δ0 = 1.4 -> A0 = 1.4 + 0.72·(-1.0) = 0.68
    assert torch.allclose(adv, torch.tensor([[1.9112, 0.71, 0.5], [0.68, -1.0, 0.0]]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[2.4112, 1.71, 2.0], [1.18, 0.0, 0.0]]), atol=1e-6)


def test_gae_matches_plain_loop_on_ragged_random_batch():
    g = torch.Generator().manual_seed(0)
    bsz, seq = 7, 12
    lengths = torch.tensor([12, 1, 0, 5, 9, 11, 3])
    mask = torch.arange(seq) < lengths.unsqueeze(1)
    rewards = torch.randn(bsz, seq, generator=g)
    values = torch.randn(bsz, seq, generator=g)
    adv, ret = gae(rewards, values, mask, gamma=0.99, lam=0.95)
    ref_adv, ref_ret = gae_reference(rewards, values, mask, 0.99, 0.95)
    assert torch.allclose(adv, ref_adv, atol=1e-5) and torch.allclose(ret, ref_ret, atol=1e-5)
    assert torch.all(adv[~mask] == 0) and torch.all(ret[~mask] == 0)


def test_masked_moments_and_whiten():
    x = torch.tensor([1.0, 3.0, 5.0, GARBAGE])
    mask = torch.tensor([True, True, True, False])
    # mean 3; unbiased var ((1-3)^2 + 0 + (5-3)^2) / (3 - 1) = 4; biased 8/3
    assert masked_mean(x, mask).item() == 3.0
    assert masked_var(x, mask).item() == 4.0
    assert math.isclose(masked_var(x, mask, unbiased=False).item(), 8 / 3, rel_tol=1e-6)
    assert torch.allclose(masked_whiten(x, mask), torch.tensor([-1.0, 0.0, 1.0, 0.0]), atol=1e-6)
    # shift_mean=False keeps the mean (lm-human-preferences / TRL meaning): (x - 3)/2 + 3
    assert torch.allclose(masked_whiten(x, mask, shift_mean=False), torch.tensor([2.0, 3.0, 4.0, 0.0]), atol=1e-6)
    # peer: torch's own unbiased var on the selected entries
    g = torch.Generator().manual_seed(3)
    y, m = torch.randn(4, 6, generator=g), torch.rand(4, 6, generator=g) > 0.4
    assert torch.allclose(masked_var(y, m), y[m].var(), atol=1e-6)
    w = masked_whiten(y, m)
    assert abs(w[m].mean().item()) < 1e-6 and math.isclose(w[m].std().item(), 1.0, rel_tol=1e-4)
    assert torch.allclose(masked_mean(y, m, dim=1), torch.stack([y[i][m[i]].mean() for i in range(4)]), atol=1e-6)


def test_policy_loss_by_hand():
    ratio = torch.tensor([[1.5, 0.5, 1.1, 1.5, 7.0]])  # last column is padding
    adv = torch.tensor([[1.0, -1.0, 2.0, -1.0, GARBAGE]])
    mask = torch.tensor([[1, 1, 1, 1, 0]], dtype=torch.bool)
    old = torch.tensor([[-1.0, -2.0, -0.3, -0.7, -0.1]])
    new = (old + ratio.log()).requires_grad_(True)
    loss, stats = policy_loss(new, old, adv, mask, clip_eps=0.2)
    # per token max(-A·ρ, -A·clip(ρ, 0.8, 1.2)):
    #   ρ=1.5, A=+1: max(-1.5, -1.2) = -1.2  (clipped term active)
    #   ρ=0.5, A=-1: max( 0.5,  0.8) =  0.8  (clipped term active)
    #   ρ=1.1, A=+2: max(-2.2, -2.2) = -2.2  (inside the range)
    #   ρ=1.5, A=-1: max( 1.5,  1.2) =  1.5  (unclipped: pessimism keeps the bad move)
    assert math.isclose(loss.item(), (-1.2 + 0.8 - 2.2 + 1.5) / 4, rel_tol=1e-6)  # -0.275
    assert math.isclose(stats.clip_frac.item(), 2 / 4, rel_tol=1e-6)
    assert math.isclose(stats.ratio_mean.item(), (1.5 + 0.5 + 1.1 + 1.5) / 4, rel_tol=1e-6)
    # k3 = (ρ - 1) - log ρ: 0.0945349 + 0.1931472 + 0.0046898 + 0.0945349
    approx_kl = sum((r - 1) - math.log(r) for r in (1.5, 0.5, 1.1, 1.5)) / 4
    assert math.isclose(stats.approx_kl.item(), approx_kl, rel_tol=1e-5)
    loss.backward()
    # clipped tokens and padding get no gradient; elsewhere d/dlogπ (-A·ρ)/4 = -A·ρ/4
    assert torch.allclose(new.grad, torch.tensor([[0.0, 0.0, -2.0 * 1.1 / 4, 1.0 * 1.5 / 4, 0.0]]), atol=1e-6)


def test_value_loss_by_hand():
    values = torch.tensor([[1.0, 2.0, 0.0, 3.0, GARBAGE]])
    old = torch.tensor([[0.8, 2.5, 0.0, 2.0, 0.0]])
    returns = torch.tensor([[2.0, 1.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]], dtype=torch.bool)
    loss, stats = value_loss(values, old, returns, mask, clip_eps_value=0.2)
    # clip(V, V_old ± 0.2) = [1.0, 2.3, 0.0, 2.2]
    # (V-R)^2 = [1, 1, 1, 9]; (Vclip-R)^2 = [1, 1.69, 1, 4.84]; max = [1, 1.69, 1, 9]
    assert math.isclose(loss.item(), 0.5 * (1 + 1.69 + 1 + 9) / 4, rel_tol=1e-6)  # 1.58625
    assert math.isclose(stats.clip_frac.item(), 1 / 4, rel_tol=1e-6)
    assert math.isclose(stats.mse.item(), (1 + 1 + 1 + 9) / 4, rel_tol=1e-6)


def test_entropy_from_logits():
    ln3 = math.log(3.0)
    logits = torch.tensor([[[ln3, 0.0], [0.0, 0.0], [9.0, -9.0]]])  # p = [.75, .25], uniform, padding
    mask = torch.tensor([[True, True, False]])
    h1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 0.5623351
    assert math.isclose(entropy_from_logits(logits, mask).item(), (h1 + math.log(2)) / 2, rel_tol=1e-6)
    g = torch.Generator().manual_seed(4)
    big = torch.randn(3, 5, 10, generator=g)
    peer = torch.distributions.Categorical(logits=big).entropy().mean()
    assert torch.allclose(entropy_from_logits(big, torch.ones(3, 5, dtype=torch.bool)), peer, atol=1e-6)


def test_ptx_loss_is_coef_times_nll():
    logits = torch.zeros(1, 3, 4)  # uniform over V = 4: NLL = log 4 per target
    labels = torch.tensor([[0, 1, 2]])
    assert math.isclose(ptx_loss(logits, labels, ptx_coef=27.8).item(), 27.8 * math.log(4), rel_tol=1e-6)


def test_apply_eos_penalty():
    score = torch.tensor([0.7, 2.5, -0.3])
    ended = torch.tensor([True, False, False])
    assert torch.equal(apply_eos_penalty(score, ended, -1.0), torch.tensor([0.7, -1.0, -1.0]))
    assert torch.allclose(apply_eos_penalty(score, ended, -1.0, mode="add"), torch.tensor([0.7, 1.5, -1.3]))


def test_adaptive_kl_controller_by_hand_and_resume():
    ctl = AdaptiveKLController(init_kl_coef=0.1, target=6.0, horizon=10000)
    ctl.update(current_kl=9.0, n_steps=256)  # error = clip(9/6 - 1 = 0.5) = 0.2
    assert math.isclose(ctl.value, 0.1 * (1 + 0.2 * 256 / 10000), rel_tol=1e-12)  # 0.100512
    ctl.update(current_kl=torch.tensor(5.7), n_steps=256)  # error = 5.7/6 - 1 = -0.05, unclipped
    assert math.isclose(ctl.value, 0.100512 * (1 - 0.05 * 256 / 10000), rel_tol=1e-9)  # 0.1003834
    ctl.update(current_kl=0.0, n_steps=10000)  # error clipped to -0.2: β *= 0.8
    after = 0.100512 * 0.99872 * 0.8
    assert math.isclose(ctl.value, after, rel_tol=1e-9)

    resumed = AdaptiveKLController(init_kl_coef=1.0, target=1.0, horizon=1.0)
    resumed.load_state_dict(ctl.state_dict())
    ctl.update(7.0, 64)
    resumed.update(7.0, 64)
    assert resumed.value == ctl.value and resumed.state_dict() == ctl.state_dict()


def test_fixed_kl_controller():
    ctl = FixedKLController(0.02)  # InstructGPT's β
    ctl.update(100.0, 512)
    assert ctl.value == 0.02
    other = FixedKLController(1.0)
    other.load_state_dict(ctl.state_dict())
    assert other.value == 0.02
