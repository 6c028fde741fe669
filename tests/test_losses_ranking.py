"""InstructGPT eq. 1 with ties and ragged K, against hand values and a plain pair loop."""

import itertools
import math

import torch
import torch.nn.functional as F

from kaizen.losses.ranking import (
    normalize_rewards,
    pairwise_accuracy,
    ranking_loss,
    reward_bias,
)


def softplus(x: float) -> float:
    """-log σ(-x) = log(1 + e^x)."""
    return math.log1p(math.exp(x))


# Prompt with K = 4: A ranked 1st, B and C tied 2nd, D 3rd.
K4_REWARDS = [1.0, 0.0, 1.5, -1.0]  # A, B, C, D
K4_RANKS = [1, 2, 2, 3]
# Strict pairs (w, l) and r_w - r_l; (B, C) is a tie and gives no pair, so C_b = 5, not C(4,2) = 6:
#   (A,B) +1.0   (A,C) -0.5   (A,D) +2.0   (B,D) +1.0   (C,D) +2.5
K4_DIFFS = [1.0, -0.5, 2.0, 1.0, 2.5]
# -log σ(d) = log(1 + e^-d): 0.3132617 + 0.9740770 + 0.1269280 + 0.3132617 + 0.0788897 = 1.8064181
K4_LOSS = sum(softplus(-d) for d in K4_DIFFS) / 5  # = 0.3612836
K4_ACC = 4 / 5  # (A,C) is ordered wrongly by the RM
K4_MARGIN = sum(K4_DIFFS) / 5  # = 6.0 / 5 = 1.2


def test_k4_with_tie_by_hand():
    assert math.isclose(K4_LOSS, 0.3612836, rel_tol=1e-6)
    rewards = torch.tensor([K4_REWARDS], requires_grad=True)
    loss, stats = ranking_loss(rewards, torch.tensor([K4_RANKS]), torch.ones(1, 4, dtype=torch.bool))
    assert math.isclose(loss.item(), K4_LOSS, rel_tol=1e-6)
    assert math.isclose(stats.accuracy.item(), K4_ACC, rel_tol=1e-6)
    assert math.isclose(stats.margin.item(), K4_MARGIN, rel_tol=1e-6)
    assert stats.num_pairs.item() == 5 and stats.num_prompts.item() == 1
    # dL/dr_B = (1/5)[-σ(-(r_A-r_B)) + σ(-(r_B-r_D))] = (1/5)[-σ(-1) + σ(-1)] = 0: B wins one, loses one
    loss.backward()
    assert abs(rewards.grad[0, 1].item()) < 1e-7
    # dL/dr_C = (1/5)[σ(-(r_A-r_C)) - σ(-(r_C-r_D))] = (1/5)[σ(0.5) - σ(-2.5)]
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert math.isclose(rewards.grad[0, 2].item(), (sig(0.5) - sig(-2.5)) / 5, rel_tol=1e-5)


def test_k_varies_across_batch_and_padding_is_ignored():
    nan = float("nan")
    rewards = torch.tensor(
        [
            K4_REWARDS + [99.0],  # K = 4, one padding slot with a garbage reward
            [0.3, 0.1, nan, -7.0, 5.0],  # K = 2: second answer better; padding holds NaN
            [0.2, 0.9, 0.4, 0.0, 0.0],  # K = 3, all tied: no strict pair -> excluded
        ]
    )
    ranks = torch.tensor([K4_RANKS + [0], [2, 1, 0, 0, 0], [1, 1, 1, 0, 0]])  # padding rank 0 looks "best"
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)
    rewards.requires_grad_(True)
    loss, stats = ranking_loss(rewards, ranks, mask)
    loss.backward()
    assert torch.all(rewards.grad[~mask] == 0) and not rewards.grad.isnan().any()
    k2_loss = softplus(-(0.1 - 0.3))  # -log σ(r_w - r_l) with w = answer 2: log(1 + e^0.2) = 0.7981389
    expected = (K4_LOSS + k2_loss) / 2  # two prompts have pairs; the all-tie prompt is not in the mean
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    assert stats.num_pairs.item() == 6 and stats.num_prompts.item() == 2
    assert math.isclose(stats.accuracy.item(), 4 / 6, rel_tol=1e-6)  # 4 of 5 right, then (2 over 1) wrong
    assert math.isclose(stats.margin.item(), (6.0 - 0.2) / 6, rel_tol=1e-6)


def test_matches_plain_pair_loop_on_random_rankings():
    g = torch.Generator().manual_seed(0)
    bsz, kmax = 6, 9
    rewards = torch.randn(bsz, kmax, generator=g)
    ranks = torch.randint(1, 5, (bsz, kmax), generator=g)  # few distinct ranks: many ties
    sizes = [4, 9, 5, 2, 7, 6]
    mask = torch.arange(kmax) < torch.tensor(sizes).unsqueeze(1)
    per_prompt = []
    for b, k in enumerate(sizes):
        terms = [
            -F.logsigmoid(rewards[b, w] - rewards[b, l])
            for w, l in itertools.permutations(range(k), 2)
            if ranks[b, w] < ranks[b, l]
        ]
        if terms:
            per_prompt.append(torch.stack(terms).mean())
    loss, _ = ranking_loss(rewards, ranks, mask)
    assert torch.allclose(loss, torch.stack(per_prompt).mean(), atol=1e-6)


def test_k2_is_plain_pairwise_loss():
    g = torch.Generator().manual_seed(1)
    r_chosen, r_rejected = torch.randn(8, generator=g), torch.randn(8, generator=g)
    rewards = torch.stack([r_chosen, r_rejected], dim=1)
    ranks = torch.tensor([[1, 2]]).expand(8, 2)
    loss, stats = ranking_loss(rewards, ranks, torch.ones(8, 2, dtype=torch.bool))
    assert torch.allclose(loss, -F.logsigmoid(r_chosen - r_rejected).mean(), atol=1e-6)
    assert torch.allclose(stats.accuracy, (r_chosen > r_rejected).float().mean())


def test_no_pairs_gives_zero_loss_and_zero_grad():
    rewards = torch.randn(2, 3, requires_grad=True)
    loss, stats = ranking_loss(rewards, torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(rewards.grad == 0) and stats.num_pairs.item() == 0


def test_pairwise_accuracy_and_demo_bias():
    rewards = torch.tensor([K4_REWARDS])
    acc = pairwise_accuracy(rewards, torch.tensor([K4_RANKS]), torch.ones(1, 4, dtype=torch.bool))
    assert math.isclose(acc.item(), K4_ACC, rel_tol=1e-6)
    demos = torch.tensor([1.0, 2.0, 6.0])  # mean 3
    assert reward_bias(demos).item() == 3.0
    assert torch.equal(normalize_rewards(torch.tensor([3.0, -1.0]), demos), torch.tensor([0.0, -4.0]))
    assert normalize_rewards(demos, demos).mean().item() == 0.0
