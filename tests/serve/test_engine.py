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


def test_a_failing_batch_fails_its_requests_not_the_engine(engine):
    with pytest.raises(IndexError):
        asyncio.run(run(engine, [10**6], SamplingParams(max_tokens=4)))
    ids = engine.tokenizer("hello", add_special_tokens=False)["input_ids"]
    assert asyncio.run(run(engine, ids, SamplingParams(max_tokens=3, temperature=0)))[2] in ("stop", "length")


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
