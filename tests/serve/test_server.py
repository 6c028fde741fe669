"""A real ``python -m kaizen serve`` on a port: the official openai client, plain SSE streaming,
64 concurrent streaming clients, and a disconnecting client stopping its generation."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest



@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0)


def test_openai_client_unchanged(client):
    assert [m.id for m in client.models.list()] == ["tiny-llama"]
    chat = client.chat.completions.create(model="tiny-llama", messages=[{"role": "user", "content": "hello"}],
                                          max_tokens=8, n=2, seed=7, temperature=0.8, logprobs=True, top_logprobs=3)
    assert len(chat.choices) == 2 and chat.choices[0].message.role == "assistant"
    assert len(chat.choices[0].logprobs.content[0].top_logprobs) == 3
    again = client.chat.completions.create(model="tiny-llama", messages=[{"role": "user", "content": "hello"}],
                                           max_tokens=8, n=2, seed=7, temperature=0.8)
    assert [c.message.content for c in again.choices] == [c.message.content for c in chat.choices]
    stream = client.chat.completions.create(model="tiny-llama", messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=8, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].usage.completion_tokens >= 1 and any(c.choices and c.choices[0].finish_reason for c in chunks)
    text = client.completions.create(model="tiny-llama", prompt="the quick", max_tokens=5, stop=["\n"])
    assert text.object == "text_completion" and text.choices[0].finish_reason in ("stop", "length")


def test_openai_client_errors(server, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny-llama", messages=[{"role": "user", "content": "hi " * 500}])
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="kz-bad", max_retries=0).models.list()


def test_plain_sse_stream(server):
    body = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 6, "stream": True}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, headers=server.headers, timeout=30) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    assert json.loads(lines[0][6:])["choices"][0]["delta"]["role"] == "assistant"


def test_64_concurrent_streams_are_batched(server):
    async def one(client: openai.AsyncOpenAI, i: int) -> str:
        stream = await client.chat.completions.create(
            model="tiny-llama", messages=[{"role": "user", "content": f"hello {i}"}], max_tokens=24, stream=True,
            temperature=1.0, seed=i)
        parts, finish = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
        assert finish in ("stop", "length")
        return "".join(parts)

    async def main():
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, timeout=120,
                                      http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=100))) as c:
            return await asyncio.gather(*[one(c, i) for i in range(64)])

    before = httpx.get(server.url + "/api/admin/stats", headers=server.headers).json()["engine"]["steps"]
    results = asyncio.run(main())
    steps = httpx.get(server.url + "/api/admin/stats", headers=server.headers).json()["engine"]["steps"] - before
    assert len(results) == 64
    # Serialised, 64 requests x up to 24 tokens would need up to 64 * 25 forward passes; batched, far fewer.
    assert steps < 64 * 25 / 4, steps


def test_disconnect_stops_generation(server):
    stats = lambda: httpx.get(server.url + "/api/admin/stats", headers=server.headers).json()["engine"]  # noqa: E731
    url, body = server.url + "/v1/completions", {"model": "tiny-llama", "prompt": "hello", "max_tokens": 200}

    def full(seed):  # finish_reason of an uninterrupted request
        r = httpx.post(url, json=body | {"seed": seed}, headers=server.headers, timeout=30)
        return r.json()["choices"][0]["finish_reason"]

    # A seed whose answer runs to max_tokens (the random model may sample EOS early with another).
    seed = next(s for s in range(50) if full(s) == "length")
    before = stats()["cancelled"]
    with httpx.stream("POST", url, json=body | {"seed": seed, "stream": True}, headers=server.headers, timeout=30) as r:
        next(r.iter_lines())  # streaming: close after the first chunk
    deadline = time.monotonic() + 5
    while stats()["cancelled"] == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats()["cancelled"] == before + 1 and stats()["running"] == 0


def test_stopped_chat_answer_is_kept_as_cancelled(server):
    chat = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 200,
            "temperature": 0.7}
    seed = next(s for s in range(50) if httpx.post(server.url + "/v1/chat/completions", json=chat | {"seed": s},
                                                    headers=server.headers, timeout=30).json()["choices"][0]["finish_reason"] == "length")
    cid = httpx.post(server.url + "/api/conversations", json={}, headers=server.headers).json()["conversation"]["id"]
    seen = ""
    with httpx.stream("POST", f"{server.url}/api/conversations/{cid}/messages", headers=server.headers, timeout=30,
                      json={"content": "hello", "max_tokens": 200, "temperature": 0.7, "seed": seed}) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["type"] == "delta":
                seen += json.loads(line[6:])["content"]
                if len(seen) > 3:
                    break  # the Stop button
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        messages = httpx.get(f"{server.url}/api/conversations/{cid}", headers=server.headers).json()["conversation"]["messages"]
        if len(messages) == 2:
            break
        time.sleep(0.05)
    answer = messages[1]
    assert answer["finish_reason"] == "cancelled" and answer["content"].startswith(seen)
