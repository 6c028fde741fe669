"""The API users expect from vLLM's OpenAI server, through the official ``openai`` client on a real
``kaizen serve``: stream usage, top_k and repetition_penalty, response_format (json_object and
json_schema by constrained decoding), /health, /tokenize and /detokenize."""

from __future__ import annotations

import json
import sys

import httpx
import openai
import pytest

HELLO = [{"role": "user", "content": "hello"}]
MOOD = {"type": "object", "properties": {"mood": {"enum": ["happy", "sad"]}, "sure": {"type": "boolean"}},
        "required": ["mood", "sure"], "additionalProperties": False}


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, timeout=60)


def test_stream_usage_top_k_and_repetition_penalty(client):
    for stream in (client.chat.completions.create(model="tiny-llama", messages=HELLO, max_tokens=6, stream=True,
                                                  stream_options={"include_usage": True}),
                   client.completions.create(model="tiny-llama", prompt="hello", max_tokens=6, stream=True,
                                             stream_options={"include_usage": True})):
        chunks = list(stream)
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1
        assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    greedy = client.chat.completions.create(model="tiny-llama", messages=HELLO, max_tokens=12, temperature=0)
    top1 = client.chat.completions.create(model="tiny-llama", messages=HELLO, max_tokens=12, temperature=1.5, seed=3,
                                          extra_body={"top_k": 1})
    assert top1.choices[0].message.content == greedy.choices[0].message.content  # top-1 sampling is greedy
    kw = dict(model="tiny-llama", messages=HELLO, max_tokens=24, temperature=0)
    penalised = [client.chat.completions.create(**kw, extra_body={"repetition_penalty": 5.0}) for _ in range(2)]
    assert penalised[0].choices[0].message.content == penalised[1].choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(**kw, extra_body={"repetition_penalty": -1})


def test_response_format_json_schema_and_object(client):
    for seed in range(3):
        out = client.chat.completions.create(
            model="tiny-llama", messages=HELLO, max_tokens=120, temperature=1.0, seed=seed,
            response_format={"type": "json_schema", "json_schema": {"name": "mood", "schema": MOOD, "strict": True}})
        choice = out.choices[0]
        assert choice.finish_reason == "stop", choice
        value = json.loads(choice.message.content)
        assert value["mood"] in ("happy", "sad") and isinstance(value["sure"], bool) and set(value) == {"mood", "sure"}
    out = client.chat.completions.create(model="tiny-llama", messages=HELLO, max_tokens=120, temperature=0,
                                         response_format={"type": "json_object"})
    text = out.choices[0].message.content
    assert text.lstrip().startswith("{")
    if out.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny-llama", messages=HELLO, max_tokens=4,
                                       response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert e.value.param == "response_format.json_schema"


def test_response_format_without_the_extra_is_a_clear_400(app_client, monkeypatch):
    monkeypatch.setitem(sys.modules, "lmformatenforcer", None)  # as if not installed
    monkeypatch.setattr("kaizen.serve.structured._TOKENIZER_DATA", {})
    r = app_client.post("/v1/chat/completions", json={"model": "tiny-llama", "messages": HELLO, "max_tokens": 4,
                                                      "response_format": {"type": "json_object"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "structured_output_unavailable"
    assert "kaizen-rlhf[structured]" in r.json()["error"]["message"]


def test_health_tokenize_detokenize(server, client):
    assert httpx.get(server.url + "/health").status_code == 200
    counted = client.post("/tokenize", body={"model": "tiny-llama", "prompt": "hello world"}, cast_to=object)
    assert counted["count"] == len(counted["tokens"]) > 0 and counted["max_model_len"] == 256
    text = client.post("/detokenize", body={"model": "tiny-llama", "tokens": counted["tokens"]}, cast_to=object)
    assert text["prompt"] == "hello world"
    chat = client.post("/tokenize", body={"messages": HELLO}, cast_to=object)
    plain = client.chat.completions.create(model="tiny-llama", messages=HELLO, max_tokens=1)
    assert chat["count"] == plain.usage.prompt_tokens  # the same rendering as a chat request
    root = httpx.post(server.url + "/tokenize", json={"prompt": "hello"}, headers=server.headers)
    assert root.status_code == 200 and root.json()["count"] >= 1  # vLLM's path, at the root
    with pytest.raises(openai.BadRequestError):
        client.post("/detokenize", body={"tokens": [999999]}, cast_to=object)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="kz-nope", max_retries=0).post(
            "/tokenize", body={"prompt": "x"}, cast_to=object)
