"""Packed (padding-free) forward passes give the padded passes' log-probs and values."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from kaizen.losses.sft import token_logprobs
from kaizen.models.scalar_head import load_scalar_model, scalar_head, token_values
from kaizen.training.packing import (matches_padded, pack_rows, packed_hidden_states, packed_logprobs, row_chunks,
                                     unpack)


def _rows():
    # Row 0: 5 tokens, the answer is its last 2; row 1: 3 tokens, answer the last 1; right-padded to 6.
    ids = torch.tensor([[11, 12, 13, 14, 15, 0], [21, 22, 23, 0, 0, 0]])
    att = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 2:4] = True  # positions 2, 3 predict tokens 14, 15
    mask[1, 1] = True  # position 1 predicts 23
    return ids, att, mask


def test_pack_rows_by_hand():
    p = pack_rows(*_rows())
    assert p.input_ids.tolist() == [[11, 12, 13, 14, 15, 21, 22, 23]]
    assert p.position_ids.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]
    assert p.keep.tolist() == [2, 3, 6] and p.targets.tolist() == [14, 15, 23]
    back = unpack(torch.tensor([1.0, 2.0, 3.0]), p)
    assert back.tolist() == [[0, 0, 1, 2, 0], [0, 3, 0, 0, 0]]


def _random_rollout(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths, prompt = [9, 4, 13, 7], [3, 2, 6, 5]
    width = max(lengths)
    ids = torch.randint(3, vocab, (len(lengths), width), generator=g)
    att = torch.zeros_like(ids)
    mask = torch.zeros(len(lengths), width - 1, dtype=torch.bool)
    for b, (n, p) in enumerate(zip(lengths, prompt)):
        att[b, :n] = 1
        ids[b, n:] = 0
        mask[b, p - 1: n - 1] = True
    return ids, att, mask


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "gpt_neox"])
def test_packed_logprobs_equal_padded(arch, tiny_model_factory):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_factory(arch)).eval()
    ids, att, mask = _random_rollout(model.config.vocab_size)
    with torch.no_grad():
        padded = token_logprobs(model(input_ids=ids, attention_mask=att).logits[:, :-1], ids[:, 1:])
        packed, logits = packed_logprobs(model, pack_rows(ids, att, mask))
    assert logits.shape == (int(mask.sum()), model.config.vocab_size)  # the LM head ran only at answer tokens
    torch.testing.assert_close(packed[mask], padded[mask], rtol=0, atol=1e-5)
    assert (packed[~mask] == 0).all() and matches_padded(padded, packed, mask)


def test_packed_values_equal_padded(tiny_model_factory):
    value = load_scalar_model(str(tiny_model_factory("llama"))).eval()
    ids, att, mask = _random_rollout(value.config.vocab_size, seed=1)
    with torch.no_grad():
        padded = token_values(value, ids, att)[:, :-1]
        p = pack_rows(ids, att, mask)
        packed = unpack(scalar_head(value)(packed_hidden_states(value, p)).squeeze(-1).float(), p)
    torch.testing.assert_close(packed[mask], padded[mask], rtol=0, atol=1e-5)


def test_rows_mixed_by_attention_are_detected(tiny_model_factory):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_factory("llama")).eval()
    ids, att, mask = _random_rollout(model.config.vocab_size, seed=2)
    p = pack_rows(ids, att, mask)
    with torch.no_grad():
        padded = token_logprobs(model(input_ids=ids, attention_mask=att).logits[:, :-1], ids[:, 1:])
        # One causal sequence over all rows: what a model that ignores position ids computes.
        mixed = unpack(token_logprobs(model(input_ids=p.input_ids).logits[0, p.keep][None], p.targets[None])[0], p)
    assert not matches_padded(padded, mixed, mask)


def test_row_chunks_bound_the_packed_length():
    att = torch.zeros(5, 8, dtype=torch.long)
    for b, n in enumerate([3, 4, 8, 2, 2]):
        att[b, :n] = 1
    assert row_chunks(att, max_tokens=7) == [slice(0, 2), slice(2, 3), slice(3, 5)]  # the 8-token row goes alone
    assert row_chunks(att, max_tokens=100) == [slice(0, 5)]
