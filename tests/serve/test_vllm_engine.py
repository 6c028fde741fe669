"""The vLLM adapter against a stand-in for vLLM (the real one needs a GPU): cumulative outputs become
per-token events, and a consumer that stops aborts its request."""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass, field

from kaizen.serve.engine import SamplingParams
from kaizen.serve.vllm_engine import VLLMEngine


@dataclass
class Output:
    text: str
    token_ids: list[int]
    finish_reason: str | None = None
    logprobs: list | None = None

    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class FakeLLM:
    steps: list[Output]
    aborted: list[str] = field(default_factory=list)
    params: list = field(default_factory=list)

    async def generate(self, prompt, params, request_id):
        self.params.append(params)
        for out in self.steps:
            yield types.SimpleNamespace(outputs=[out])

    async def abort(self, request_id):
        self.aborted.append(request_id)


def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = lambda **kw: kw
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = dict
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)


async def collect(engine, params):
    return [ev async for ev in engine.generate([1, 2, 3], params)]


def test_cumulative_outputs_become_events(monkeypatch, engine):
    fake_vllm(monkeypatch)
    llm = FakeLLM([Output("He", [10]), Output("Hello", [10, 11, 12]), Output("Hello!", [10, 11, 12, 13], "stop")])
    eng = VLLMEngine(llm, engine.tokenizer, "m", 256)
    events = asyncio.run(collect(eng, SamplingParams(max_tokens=8, temperature=0.5, stop=("\n",), seed=3)))
    assert [e.token_id for e in events] == [10, 11, 12, 13]
    assert "".join(e.text for e in events) == "Hello!" and events[-1].finish_reason == "stop"
    assert events[-1].completion_tokens == 4 and events[-1].prompt_tokens == 3
    assert llm.params[0]["stop"] == ["\n"] and llm.params[0]["seed"] == 3 and llm.aborted == []


def test_stopped_consumer_aborts(monkeypatch, engine):
    fake_vllm(monkeypatch)
    llm = FakeLLM([Output("a", [10]), Output("ab", [10, 11])])
    eng = VLLMEngine(llm, engine.tokenizer, "m", 256)

    async def first_only():
        gen = eng.generate([1], SamplingParams(max_tokens=8))
        await gen.__anext__()
        await gen.aclose()

    asyncio.run(first_only())
    assert len(llm.aborted) == 1
