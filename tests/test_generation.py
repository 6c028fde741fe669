"""The shared decoding core: same tokens as transformers' ``generate``, log-probs equal to a fresh forward pass."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from kaizen.data.chat import stop_token_ids
from kaizen.generation import SamplingParams, generate
from kaizen.losses.sft import token_logprobs
from kaizen.models.decoding import sample, warp
from conftest import sample_sentences

PROMPTS = sample_sentences(6, seed=3)


def _load(path):
    """The tiny model with EOS's output row 20x the row of the token greedy decoding picks most (a random
    model's logits are near-uniform): sampled rows then stop at different steps."""
    model, tok = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    ids = torch.tensor([tok(PROMPTS[0], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        common = model.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:].mode().values
        head = model.get_output_embeddings().weight
        head[tok.eos_token_id] = head[common] * 20
    return model, tok


def _hf_generate(model, tok, prompts, params: SamplingParams, seed: int) -> list[list[int]]:
    """What ``kaizen.generation.generate`` ran before it had its own loop: ``model.generate``, cut at a stop."""
    stops = stop_token_ids(tok)
    chunk = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(c) for c in chunk)
    ids = torch.tensor([[tok.pad_token_id] * (width - len(c)) + c for c in chunk])
    mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
    kwargs = dict(max_new_tokens=params.max_new_tokens, eos_token_id=stops, pad_token_id=tok.pad_token_id)
    if params.greedy:
        kwargs.update(do_sample=False)
    else:
        kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
    torch.manual_seed(seed)
    with torch.no_grad():
        seqs = model.generate(input_ids=ids, attention_mask=mask, **kwargs)[:, width:].tolist()
    return [row[: next((i + 1 for i, t in enumerate(row) if t in stops), len(row))] for row in seqs]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("params", [SamplingParams(20, greedy=True), SamplingParams(20, 1.0, 1.0),
                                    SamplingParams(20, 0.7, 0.9)], ids=["greedy", "t1", "t0.7-p0.9"])
def test_same_tokens_as_transformers_generate(arch, params, tiny_model_factory):
    model, tok = _load(tiny_model_factory(arch))
    ours = [g.response_ids for g in generate(model, tok, PROMPTS, params, seed=11)]
    assert ours == _hf_generate(model, tok, PROMPTS, params, seed=11)
    assert len({len(r) for r in ours}) > 1 or params.greedy  # rows stopped at different steps: stop handling ran


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_logprobs_equal_a_fresh_forward_pass(arch, tiny_model_factory):
    """fp32: the sampled tokens' log-probs from the cached decode equal a padded forward over prompt + answer."""
    model, tok = _load(tiny_model_factory(arch))
    gens = generate(model, tok, PROMPTS, SamplingParams(16, temperature=0.8, top_p=0.95), seed=5)
    for g in gens:
        ids = torch.tensor([g.prompt_ids + g.response_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[:, :-1]
        fresh = token_logprobs(logits, ids[:, 1:])[0, len(g.prompt_ids) - 1:]
        assert len(g.logprobs) == len(g.response_ids)
        torch.testing.assert_close(torch.tensor(g.logprobs), fresh, rtol=0, atol=1e-5)


def test_prompt_tuned_model_decodes_like_its_own_forward(tiny_model_factory):
    """The virtual tokens are fed once, in front of each left-padded row: the cached decode's log-probs
    equal the peft model's own forward (virtual tokens prepended) over prompt + answer alone."""
    from kaizen.models.adapters import AdapterSettings, apply_adapter

    base, tok = _load(tiny_model_factory("llama"))
    torch.manual_seed(0)
    model = apply_adapter(base, AdapterSettings(prompt_tuning_tokens=4)).eval()
    gens = generate(model, tok, PROMPTS, SamplingParams(16, temperature=0.8, top_p=0.95), seed=5)
    moved = False
    for g in gens:
        ids = torch.tensor([g.prompt_ids + g.response_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[:, 4:-1]  # the virtual tokens' logits come first
            with model.disable_adapter():
                base_logits = model(input_ids=ids).logits[:, :-1]
        fresh = token_logprobs(logits, ids[:, 1:])[0, len(g.prompt_ids) - 1:]
        torch.testing.assert_close(torch.tensor(g.logprobs), fresh, rtol=0, atol=1e-5)
        base_lp = token_logprobs(base_logits, ids[:, 1:])[0, len(g.prompt_ids) - 1:]
        moved |= not torch.allclose(fresh, base_lp, atol=1e-3)
    assert moved  # the virtual tokens change the model: the check above would catch them being skipped


def test_warp_matches_hand_values():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])  # softmax ~ [0.09, 0.67, 0.24, 0.03]
    inf = float("-inf")
    assert warp(logits, 1.0, top_p=0.5).tolist() == [[inf, 3.0, inf, inf]]
    assert warp(logits, 1.0, top_p=0.8).tolist() == [[inf, 3.0, 2.0, inf]]
    assert warp(logits, 2.0, top_k=2).tolist() == [[inf, 1.5, 1.0, inf]]
    assert sample(logits, 0.0).tolist() == [1]
    gen = torch.Generator().manual_seed(0)
    assert {int(sample(logits, 1.0, top_p=0.8, generator=gen)[0]) for _ in range(200)} == {1, 2}
