"""The batching engine: same tokens as unbatched ``generate``, stop strings, sampling, cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch

from kaizen.serve.engine import SamplingParams, TextStream, _sample

PROMPTS = ["hello world", "the quick brown fox jumps over the lazy", "kaizen", "write a short poem about the sea",
           "what is two"]


async def run(engine, ids, params, delay=0.0):
    await asyncio.sleep(delay)
    tokens, text, finish = [], "", None
    async for ev in engine.generate(ids, params):
        tokens += [ev.token_id] if ev.token_id is not None else []
        text += ev.text
        finish = ev.finish_reason
    return tokens, text, finish


def test_batched_greedy_matches_unbatched_generate(engine):
    tok, model = engine.tokenizer, engine.model
    encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]

    async def main():  # staggered arrivals: later requests join the running batch
        return await asyncio.gather(*[run(engine, ids, SamplingParams(max_tokens=16, temperature=0), delay=0.003 * i)
                                      for i, ids in enumerate(encoded)])

    steps = engine.steps
    results = asyncio.run(main())
    assert engine.steps - steps < 16 * len(PROMPTS)  # shared forward passes
    for ids, (tokens, text, finish) in zip(encoded, results):
        with torch.no_grad():
            ref = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=16, do_sample=False, eos_token_id=sorted(engine.stop_ids),
                                 pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
        ref = ref[:next((i for i, t in enumerate(ref) if t in engine.stop_ids), len(ref))]
        assert tokens == ref
        assert text == tok.decode(ref, skip_special_tokens=True)
        assert finish == ("length" if len(ref) == 16 else "stop")


def test_seeded_sampling_is_reproducible(engine):
    ids = engine.tokenizer("hello", add_special_tokens=False)["input_ids"]
    p = SamplingParams(max_tokens=12, temperature=1.0, top_p=0.9, seed=42)
    assert asyncio.run(run(engine, ids, p)) == asyncio.run(run(engine, ids, p))


class CharTokenizer:
    """One character per token id (ord), enough to drive TextStream."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(map(chr, ids))


def stream_text(text: str, stop: tuple[str, ...]) -> tuple[list[str], bool]:
    ts, out = TextStream(CharTokenizer(), stop), []
    for ch in text:
        delta, hit = ts.push(ord(ch))
        out.append(delta)
        if hit:
            return out, True
    out.append(ts.flush())
    return out, False


def test_text_stream_holds_back_possible_stop_strings():
    deltas, hit = stream_text("abc END def", ("END",))
    assert hit and "".join(deltas) == "abc "
    deltas, hit = stream_text("abc EN", ("END",))
    assert not hit and deltas[-2:] == ["", "EN"]  # held while it could still become END, then flushed
    deltas, hit = stream_text("xyzzy", ("zz", "y"))
    assert hit and "".join(deltas) == "x"


def test_sample_greedy_and_top_p():
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0])
    gen = torch.Generator().manual_seed(0)
    assert _sample(logits, 0.0, 1.0, gen) == 1
    # softmax ~ [0.09, 0.67, 0.24, 0.03]: top_p 0.5 keeps only the best token
    assert {_sample(logits, 1.0, 0.5, gen) for _ in range(50)} == {1}
    assert {_sample(logits, 1.0, 0.8, gen) for _ in range(200)} == {1, 2}


def test_cancelled_consumer_frees_its_row(engine):
    ids = engine.tokenizer("hello", add_special_tokens=False)["input_ids"]

    async def main():
        gen = engine.generate(ids, SamplingParams(max_tokens=10_000, temperature=0))
        await gen.__anext__()
        await gen.aclose()
        deadline = time.monotonic() + 5
        while (engine.cancelled == before or engine.running) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    before = engine.cancelled
    asyncio.run(main())
    assert engine.running == 0 and engine.cancelled == before + 1


def test_bad_values_are_refused_before_they_reach_a_batch(engine):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        asyncio.run(run(engine, [10**6], SamplingParams(max_tokens=4)))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        asyncio.run(run(engine, [-5], SamplingParams(max_tokens=4)))
    for bad in (dict(seed=2**64), dict(seed=-1), dict(temperature=float("nan")), dict(top_p=0.0), dict(max_tokens=0)):
        with pytest.raises(ValueError, match="out of range"):
            SamplingParams(**{"max_tokens": 4} | bad)
    ids = engine.tokenizer("hello", add_special_tokens=False)["input_ids"]
    greedy = asyncio.run(run(engine, ids, SamplingParams(max_tokens=6, temperature=0)))
    assert asyncio.run(run(engine, ids, SamplingParams(max_tokens=6, temperature=1e-300))) == greedy


def test_a_failing_row_fails_alone_and_the_others_stream_on(engine, monkeypatch):
    import kaizen.serve.engine as engine_module

    tok = engine.tokenizer
    encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS[:3]]
    greedy = SamplingParams(max_tokens=8, temperature=0)
    alone = [asyncio.run(run(engine, ids, greedy)) for ids in encoded]
    sample = engine_module._sample

    def failing_sample(logits, temperature, top_p, gen, top_k=0):
        if temperature == 0.5:  # the poisoned request's marker
            raise RuntimeError("sampling broke")
        return sample(logits, temperature, top_p, gen, top_k=top_k)

    monkeypatch.setattr(engine_module, "_sample", failing_sample)
    monkeypatch.setattr(engine, "vocab_size", 10**7)  # lets an id past the embedding through to the prefill

    async def main():  # arriving together: the bad ones share a prefill / a decode step with the good ones
        jobs = [run(engine, ids, greedy) for ids in encoded]
        jobs += [run(engine, [10**6], greedy), run(engine, encoded[0], SamplingParams(max_tokens=8, temperature=0.5))]
        return await asyncio.gather(*jobs, return_exceptions=True)

    *good, bad_prefill, bad_sample = asyncio.run(main())
    assert good == alone
    assert isinstance(bad_prefill, IndexError) and isinstance(bad_sample, RuntimeError)
    deadline = time.monotonic() + 5
    while engine.running and time.monotonic() < deadline:  # the worker prunes the finished rows after their last event
        time.sleep(0.01)
    assert engine.running == 0


def test_top_k_and_repetition_penalty(engine):
    from kaizen.serve.engine import _penalize

    row = torch.tensor([2.0, -1.0, 0.5, 3.0])
    assert _penalize(row, [0, 1, 1], 2.0).tolist() == [1.0, -2.0, 0.5, 3.0]  # CTRL: 2/2, -1*2, unseen unchanged
    gen = torch.Generator().manual_seed(0)
    assert {_sample(row, 1.0, 1.0, gen, top_k=1) for _ in range(20)} == {3}  # top-1 is greedy
    assert {_sample(row, 5.0, 1.0, gen, top_k=2) for _ in range(200)} == {0, 3}
    ids = engine.tokenizer("hello", add_special_tokens=False)["input_ids"]
    tokens, _, _ = asyncio.run(run(engine, ids, SamplingParams(max_tokens=12, temperature=0, repetition_penalty=10.0)))
    plain, _, _ = asyncio.run(run(engine, ids, SamplingParams(max_tokens=12, temperature=0)))
    assert len(set(tokens)) >= len(set(plain))  # a strong penalty repeats no more than greedy does


def test_non_streaming_request_is_cancelled_when_the_client_leaves():
    from kaizen.serve.errors import APIError
    from kaizen.serve.runtime import unless_disconnected

    closed = []

    class Request:  # the client is gone from the third check on
        checks = 0

        async def is_disconnected(self):
            self.checks += 1
            return self.checks >= 3

    async def endless():
        try:
            while True:
                await asyncio.sleep(0.01)
        finally:
            closed.append(True)

    with pytest.raises(APIError):
        asyncio.run(unless_disconnected(Request(), endless()))
    assert closed == [True]
