"""/v1 in process: response shapes, sampling options, streaming chunks, OpenAI-shaped errors, filters."""

from __future__ import annotations

import json

import pytest

from kaizen.serve.filters import Refusal

CHAT = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hello world"}], "max_tokens": 8}


def sse(lines) -> list:
    events = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_models(app_client):
    r = app_client.get("/v1/models")
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["tiny-llama"]


def test_chat_completion_shape_n_and_logprobs(app_client):
    r = app_client.post("/v1/chat/completions", json=CHAT | {"n": 3, "logprobs": True, "top_logprobs": 2,
                                                              "temperature": 1.0, "top_p": 0.9})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "tiny-llama"
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    for c in body["choices"]:
        assert c["message"]["role"] == "assistant" and c["finish_reason"] in ("stop", "length")
        content = c["logprobs"]["content"]
        assert all(t["logprob"] <= 0 and len(t["top_logprobs"]) == 2 for t in content)
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] > 0


def test_seed_reproducible_and_max_completion_tokens(app_client):
    body = CHAT | {"seed": 123, "temperature": 1.0, "max_completion_tokens": 12, "max_tokens": None}
    a = app_client.post("/v1/chat/completions", json=body).json()
    b = app_client.post("/v1/chat/completions", json=body).json()
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]
    assert a["usage"]["completion_tokens"] <= 12


def test_stop_string_cuts_the_answer(app_client):
    greedy = app_client.post("/v1/completions", json={"model": "tiny-llama", "prompt": "the quick", "max_tokens": 12,
                                                      "temperature": 0}).json()["choices"][0]
    text = greedy["text"]
    if len(text) < 4:
        pytest.skip("the random model ended too early to test a stop string")
    stop = text[2:4]
    cut = app_client.post("/v1/completions", json={"model": "tiny-llama", "prompt": "the quick", "max_tokens": 12,
                                                   "temperature": 0, "stop": [stop]}).json()["choices"][0]
    assert cut["text"] == text[:text.index(stop)] and cut["finish_reason"] == "stop"


def test_completions_batch_prompts_echo_logprobs(app_client):
    r = app_client.post("/v1/completions", json={"model": "tiny-llama", "prompt": ["hello", "kaizen"], "n": 2,
                                                 "max_tokens": 4, "echo": True, "logprobs": 1})
    assert r.status_code == 200, r.text
    choices = r.json()["choices"]
    assert len(choices) == 4 and choices[0]["text"].startswith("hello") and choices[2]["text"].startswith("kaizen")
    lp = choices[0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["text_offset"])


def test_chat_stream_chunks(app_client):
    with app_client.stream("POST", "/v1/chat/completions",
                           json=CHAT | {"stream": True, "n": 2, "stream_options": {"include_usage": True}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        chunks = sse(r.iter_lines())
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finishes = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert sorted(f["index"] for f in finishes) == [0, 1]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 2


def test_completions_stream(app_client):
    with app_client.stream("POST", "/v1/completions",
                           json={"model": "tiny-llama", "prompt": "hello", "max_tokens": 5, "stream": True}) as r:
        chunks = sse(r.iter_lines())
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("body,status,param,code", [
    (b"{not json", 400, None, None),
    (CHAT | {"temperature": "hot"}, 400, "temperature", None),
    (CHAT | {"temperature": 5}, 400, "temperature", None),
    (CHAT | {"n": "2"}, 400, "n", None),
    (CHAT | {"messages": "hi"}, 400, "messages", None),
    (CHAT | {"messages": []}, 400, "messages", None),
    (CHAT | {"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role", None),
    ({"messages": CHAT["messages"]}, 400, "model", None),
    (CHAT | {"model": "gpt-9"}, 404, "model", "model_not_found"),
    (CHAT | {"messages": [{"role": "user", "content": "hello " * 400}]}, 400, "messages", "context_length_exceeded"),
    (CHAT | {"stop": ["a", "b", "c", "d", "e"]}, 400, "stop", None),
])
def test_malformed_requests_get_openai_errors(app_client, body, status, param, code):
    kwargs = {"content": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, bytes) else {"json": body}
    r = app_client.post("/v1/chat/completions", **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["code"] == code


def test_auth_errors(app_client):
    r = app_client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": ""})
    assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
    r = app_client.get("/v1/models", headers={"Authorization": "Bearer kz-wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = app_client.get("/v1/nothing-here")
    assert r.status_code == 404 and "error" in r.json()


def test_rate_limit_is_429_in_openai_shape(make_app, add_user, admin_headers):
    client = make_app(rate_limit_per_minute=60.0, rate_limit_burst=3)
    with client:
        key = add_user(client, "limited", "user")
        codes = [client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code for _ in range(5)]
        r = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        other = client.get("/v1/models", headers=admin_headers)
    assert codes[:3] == [200] * 3 and codes[3:] == [429, 429]
    assert r.json()["error"]["code"] == "rate_limit_exceeded" and int(r.headers["Retry-After"]) >= 1
    assert other.status_code == 200  # buckets are per key


def test_filters_are_applied_in_order(make_app, admin_headers):
    seen = []

    def tag(messages, ctx):
        seen.append((ctx.route, messages[-1]["content"]))
        if "forbidden" in messages[-1]["content"]:
            raise Refusal("I can't help with that.")
        return messages

    def shout(text, messages, ctx):
        return "FILTERED:" + text

    client = make_app(request_filters=[tag], response_filters=[shout])
    with client:
        client.headers.update(admin_headers)
        ok = client.post("/v1/chat/completions", json=CHAT).json()["choices"][0]
        refused = client.post("/v1/chat/completions", json=CHAT | {
            "messages": [{"role": "user", "content": "something forbidden"}]}).json()["choices"][0]
        with client.stream("POST", "/v1/chat/completions", json=CHAT | {"stream": True}) as r:
            chunks = sse(r.iter_lines())
        cid = client.post("/api/conversations", json={}).json()["conversation"]["id"]
        ui = client.post(f"/api/conversations/{cid}/messages", json={"content": "forbidden?", "stream": False}).json()
    assert ok["message"]["content"].startswith("FILTERED:")
    assert refused["message"]["content"] == "I can't help with that." and refused["finish_reason"] == "content_filter"
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert streamed.startswith("FILTERED:")
    assert seen[0] == ("chat.completions", "hello world") and seen[-1] == ("chat", "forbidden?")
    assert ui["message"]["content"] == "I can't help with that." and ui["message"]["finish_reason"] == "content_filter"


def test_openapi_schema_lists_routes(app_client):
    paths = app_client.get("/openapi.json").json()["paths"]
    for p in ("/v1/chat/completions", "/v1/completions", "/v1/models", "/api/conversations", "/api/labeling/next",
              "/api/admin/tasks"):
        assert p in paths


def test_ui_is_served_at_root(make_app, tmp_path, monkeypatch):
    from kaizen.serve import app as app_module

    static = tmp_path / "static"
    static.mkdir()
    monkeypatch.setattr(app_module, "STATIC", static)
    with make_app() as client:
        assert "not installed" in client.get("/").text
    (static / "index.html").write_text("<html>kaizen ui</html>")
    with make_app() as client:
        assert client.get("/").text == "<html>kaizen ui</html>"
        assert client.get("/api/nothing").json()["error"]["type"] == "invalid_request_error"
        assert client.get("/v1/models").status_code == 401
