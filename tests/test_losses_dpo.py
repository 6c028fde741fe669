"""DPO losses against hand values and against TRL's own DPOTrainer code.

In trl 1.16 the DPO loss is not a standalone function: it is inlined in
``DPOTrainer._compute_loss`` (trl/trainer/dpo_trainer.py), which runs the policy forward and
reads the per-token log-probs from ``outputs.log_probs``. We call that method on a trainer built
with ``object.__new__`` (no __init__), with precomputed reference log-probs and a stand-in
model that returns chosen per-token log-probs we choose, so TRL's own lines compute the loss.
It returns the batch-mean loss and logs the mean rewards; calling it once per pair gives the
per-pair values to compare.
"""

import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from kaizen.losses.dpo import dpo_loss

trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")


class _StandInModel:
    """Returns fixed per-token log-probs in the shape TRL's fused LM head produces."""

    training = True

    def __init__(self, per_token_logps: torch.Tensor) -> None:
        self.per_token_logps = per_token_logps

    def __call__(self, **kwargs):
        lp = self.per_token_logps
        return SimpleNamespace(
            log_probs=lp,
            entropy=torch.zeros_like(lp),
            mean_logits=torch.zeros_like(lp),
            is_top1=torch.zeros_like(lp, dtype=torch.bool),
        )


def trl_compute(per_token_logps, completion_mask, ref_chosen, ref_rejected, beta, loss_type, label_smoothing=0.0):
    """Run ``DPOTrainer._compute_loss``; batch rows are [chosen..., rejected...] as TRL expects."""
    trainer = object.__new__(trl_dpo.DPOTrainer)
    model = _StandInModel(per_token_logps)
    attrs = dict(
        model=model,
        accelerator=SimpleNamespace(device=torch.device("cpu"), gather_for_metrics=lambda x: x, gather=lambda x: x),
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=[loss_type],
        loss_weights=[1.0],
        beta=beta,
        label_smoothing=label_smoothing,
        use_weighting=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
    )
    for k, v in attrs.items():
        setattr(trainer, k, v)
    inputs = dict(
        input_ids=torch.zeros_like(completion_mask),
        attention_mask=torch.ones_like(completion_mask),
        completion_mask=completion_mask,
        ref_chosen_logps=ref_chosen,
        ref_rejected_logps=ref_rejected,
    )
    with torch.no_grad():
        loss = trainer._compute_loss(model, inputs, return_outputs=False)
    m = trainer._metrics["train"]
    return loss.item(), m["rewards/chosen"][-1], m["rewards/rejected"][-1]


def random_pairs(n, seq=9, seed=0):
    """Per-token log-probs on ragged completions and their sums / lengths for both APIs."""
    g = torch.Generator().manual_seed(seed)
    prompt_len = torch.randint(1, 4, (2 * n,), generator=g)
    comp_len = torch.randint(1, seq - 3, (2 * n,), generator=g)
    pos = torch.arange(seq)
    completion_mask = ((pos >= prompt_len[:, None]) & (pos < (prompt_len + comp_len)[:, None])).long()
    per_token = -torch.rand(2 * n, seq - 1, generator=g) * 3 * completion_mask[:, 1:]
    logps = per_token.sum(1)
    ref = logps + torch.randn(2 * n, generator=g)
    return per_token, completion_mask, logps, ref, completion_mask.sum(1)


HAND = dict(  # h = (-1 - -2) - (-3 - -2) = 1 - (-1) = 2; β = 0.1 -> β h = 0.2
    policy_chosen_logps=torch.tensor([-1.0]),
    policy_rejected_logps=torch.tensor([-3.0]),
    ref_chosen_logps=torch.tensor([-2.0]),
    ref_rejected_logps=torch.tensor([-2.0]),
    beta=0.1,
)


def test_hand_values():
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731  -log σ(-x)
    losses, r_c, r_r = dpo_loss(**HAND)
    assert math.isclose(losses.item(), softplus(-0.2), rel_tol=1e-6)  # 0.5981389
    assert math.isclose(r_c.item(), 0.1, rel_tol=1e-6) and math.isclose(r_r.item(), -0.1, rel_tol=1e-6)
    # cDPO, ε = 0.1: 0.9·softplus(-0.2) + 0.1·softplus(0.2) = 0.5383250 + 0.0798139
    cdpo, _, _ = dpo_loss(**HAND, label_smoothing=0.1)
    assert math.isclose(cdpo.item(), 0.9 * softplus(-0.2) + 0.1 * softplus(0.2), rel_tol=1e-6)
    assert math.isclose(dpo_loss(**HAND, loss_type="hinge")[0].item(), 1 - 0.2, rel_tol=1e-6)
    assert math.isclose(dpo_loss(**HAND, loss_type="ipo")[0].item(), (2 - 1 / 0.2) ** 2, rel_tol=1e-6)  # 9
    # IPO with length normalisation, chosen 2 tokens, rejected 4: h = 1/2 - (-1)/4 = 0.75
    lengths = dict(chosen_lengths=torch.tensor([2]), rejected_lengths=torch.tensor([4]))
    ipo_len, _, _ = dpo_loss(**HAND, loss_type="ipo", **lengths)
    assert math.isclose(ipo_len.item(), (0.75 - 5) ** 2, rel_tol=1e-6)  # 18.0625


def test_gradient_by_hand():
    pc = torch.tensor([-1.0], requires_grad=True)
    others = {k: v for k, v in HAND.items() if k != "policy_chosen_logps"}
    losses, _, _ = dpo_loss(policy_chosen_logps=pc, **others)
    losses.sum().backward()
    # d/dpc -log σ(β h) = -β σ(-β h) = -0.1 · σ(-0.2) = -0.0450166
    assert math.isclose(pc.grad.item(), -0.1 / (1 + math.exp(0.2)), rel_tol=1e-6)


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_matches_trl_per_pair(loss_type):
    n, beta = 6, 0.3
    per_token, cmask, logps, ref, lengths = random_pairs(n, seed=1)
    lengths_kw = dict(chosen_lengths=lengths[:n], rejected_lengths=lengths[n:]) if loss_type == "ipo" else {}
    ours, r_c, r_r = dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], beta, loss_type=loss_type, **lengths_kw)
    for i in range(n):
        rows = [i, n + i]  # this pair's chosen and rejected rows
        want = trl_compute(per_token[rows], cmask[rows], ref[i : i + 1], ref[n + i : n + i + 1], beta, loss_type)
        assert ours[i].item() == pytest.approx(want[0], abs=1e-5)
        assert r_c[i].item() == pytest.approx(want[1], abs=1e-5)
        assert r_r[i].item() == pytest.approx(want[2], abs=1e-5)


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_matches_trl_batch_mean(loss_type):
    n, beta = 8, 0.1
    per_token, cmask, logps, ref, lengths = random_pairs(n, seed=2)
    lengths_kw = dict(chosen_lengths=lengths[:n], rejected_lengths=lengths[n:]) if loss_type == "ipo" else {}
    ours, r_c, r_r = dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], beta, loss_type=loss_type, **lengths_kw)
    loss, mean_c, mean_r = trl_compute(per_token, cmask, ref[:n], ref[n:], beta, loss_type)
    assert ours.mean().item() == pytest.approx(loss, abs=1e-5)
    assert r_c.mean().item() == pytest.approx(mean_c, abs=1e-5) and r_r.mean().item() == pytest.approx(mean_r, abs=1e-5)


def test_label_smoothing_matches_reference_formula_and_trl():
    """cDPO. trl 1.16's "sigmoid" ignores label_smoothing; the same formula is in its "aot"
    branch, which sorts log-ratios over the batch, a no-op for one pair, so per pair it is cDPO.
    """
    n, beta, eps = 5, 0.2, 0.15
    per_token, cmask, logps, ref, _ = random_pairs(n, seed=3)
    ours, _, _ = dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], beta, label_smoothing=eps)
    h = (logps[:n] - ref[:n]) - (logps[n:] - ref[n:])
    # eric-mitchell/direct-preference-optimization trainers.py preference_loss:
    formula = -F.logsigmoid(beta * h) * (1 - eps) - F.logsigmoid(-beta * h) * eps
    assert torch.allclose(ours, formula, atol=1e-6)
    for i in range(n):
        rows = [i, n + i]
        want, _, _ = trl_compute(per_token[rows], cmask[rows], ref[i : i + 1], ref[n + i : n + i + 1], beta, "aot", eps)
        assert ours[i].item() == pytest.approx(want, abs=1e-5)


def test_rejects_unsupported_combinations():
    with pytest.raises(ValueError):
        dpo_loss(**HAND, loss_type="hinge", label_smoothing=0.1)
    with pytest.raises(ValueError):
        dpo_loss(**HAND, loss_type="robust")
