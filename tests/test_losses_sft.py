"""Next-token losses: hand values, prompt masking, and the gradient-accumulation invariant."""

import math

import torch
import torch.nn.functional as F

from kaizen.losses.sft import (
    IGNORE_INDEX,
    count_target_tokens,
    masked_lm_loss,
    sequence_logprob,
    token_logprobs,
)

LN2 = math.log(2.0)


def hand_example():
    """B=1, T=4, V=3. Position 1 is prompt (ignored); positions 2 and 3 are answer targets.

    Shift: logits[t] predicts labels[t+1], so
      logits[0] -> labels[1] = -100 (prompt, no loss)
      logits[1] -> labels[2] = 0    logits[1] = [0, 0, 0]     -> p(0) = 1/3
      logits[2] -> labels[3] = 1    logits[2] = [ln2, 0, ln2] -> p(1) = 1/(2+1+2) = 1/5
      logits[3] -> nothing (no next token)
    """
    logits = torch.tensor([[[5.0, -1.0, 2.0], [0.0, 0.0, 0.0], [LN2, 0.0, LN2], [3.0, 3.0, -4.0]]])
    labels = torch.tensor([[7, IGNORE_INDEX, 0, 1]])  # labels[0] is never a target
    return logits, labels


def test_hand_values():
    logits, labels = hand_example()
    nll_sum = math.log(3) + math.log(5)  # -log(1/3) - log(1/5) = log 15
    assert math.isclose(masked_lm_loss(logits, labels).item(), nll_sum / 2, rel_tol=1e-6)  # 1.35403
    assert math.isclose(masked_lm_loss(logits, labels, reduction="sum").item(), nll_sum, rel_tol=1e-6)
    assert math.isclose(sequence_logprob(logits, labels).item(), -nll_sum, rel_tol=1e-6)
    assert count_target_tokens(labels) == 2
    # num_items_in_batch = 4 (say 2 more targets live in another micro-batch): log 15 / 4
    assert math.isclose(masked_lm_loss(logits, labels, num_items_in_batch=4).item(), nll_sum / 4, rel_tol=1e-6)


def test_prompt_positions_contribute_nothing():
    logits, labels = hand_example()
    base = masked_lm_loss(logits, labels)
    changed = logits.clone()
    changed[0, 0] = torch.tensor([-9.0, 4.0, 1.0])  # predicts the prompt token
    changed[0, 3] = torch.tensor([0.5, 8.0, -2.0])  # predicts past the end
    assert torch.equal(masked_lm_loss(changed, labels), base)

    leaf = logits.clone().requires_grad_(True)
    masked_lm_loss(leaf, labels).backward()
    assert torch.all(leaf.grad[0, 0] == 0) and torch.all(leaf.grad[0, 3] == 0)
    # at a trained position d(NLL/2)/dlogits = (softmax - onehot)/2: at t=1, ([1,1,1]/3 - [1,0,0]) / 2
    assert torch.allclose(leaf.grad[0, 1], torch.tensor([-1 / 3, 1 / 6, 1 / 6]), atol=1e-6)


def test_token_logprobs_matches_log_softmax_and_bf16():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=g) * 3
    tokens = torch.randint(0, 11, (3, 5), generator=g)
    ref = logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, tokens), ref, atol=1e-6)
    out_bf16 = token_logprobs(logits.bfloat16(), tokens)
    assert out_bf16.dtype == torch.float32
    assert torch.allclose(out_bf16, ref, atol=0.1)


def test_matches_torch_cross_entropy_on_random_batch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 7, 13, generator=g)
    labels = torch.randint(0, 13, (4, 7), generator=g)
    labels[0, :3] = IGNORE_INDEX
    labels[2, 5:] = IGNORE_INDEX
    peer = F.cross_entropy(logits[:, :-1].reshape(-1, 13), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    assert torch.allclose(masked_lm_loss(logits, labels), peer, atol=1e-6)


def test_all_ignored_is_zero_not_nan():
    logits = torch.randn(2, 4, 5, requires_grad=True)
    labels = torch.full((2, 4), IGNORE_INDEX)
    loss = masked_lm_loss(logits, labels)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


def test_gradient_accumulation_8x1_equals_1x8():
    """Sum of 8 micro-batch losses, each normalised by the step's total target count, has the
    same value and gradient as the full batch of 8 with a plain mean (TRL/transformers invariant).
    """
    g = torch.Generator().manual_seed(2)
    vocab, dim, bsz, seq = 17, 8, 8, 9
    emb = torch.randn(vocab, dim, generator=g)
    head = torch.randn(dim, vocab, generator=g)
    ids = torch.randint(0, vocab, (bsz, seq), generator=g)
    labels = ids.clone()
    for b in range(bsz):  # ragged prompts and padding: 1..7 targets per row
        labels[b, : 1 + b % 4] = IGNORE_INDEX
        labels[b, seq - b % 3 :] = IGNORE_INDEX

    def loss_and_grad(micro_batches, num_items):
        w = head.clone().requires_grad_(True)
        total = sum(masked_lm_loss(emb[i] @ w, lab, num_items_in_batch=num_items) for i, lab in micro_batches)
        total.backward()
        return total.detach(), w.grad

    full_w = head.clone().requires_grad_(True)
    full = masked_lm_loss(emb[ids] @ full_w, labels)
    full.backward()

    n = count_target_tokens(labels)
    micro = [(ids[b : b + 1], labels[b : b + 1]) for b in range(bsz)]
    acc_loss, acc_grad = loss_and_grad(micro, n)
    assert torch.allclose(acc_loss, full.detach(), atol=1e-5)
    assert torch.allclose(acc_grad, full_w.grad, atol=1e-6)

    # the naive mean of per-micro-batch means weights short rows up: it is NOT the same loss
    naive = sum(masked_lm_loss(emb[i] @ head, lab) for i, lab in micro) / bsz
    assert not torch.allclose(naive, full.detach(), atol=1e-3)
