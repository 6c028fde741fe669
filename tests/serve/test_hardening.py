"""A real ``kaizen serve`` under bad input: every bad value is a 400 (413 for a huge body) in OpenAI's
error shape, and a good stream running meanwhile ends with [DONE] and no error."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

CHAT = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
COMPLETION = {"model": "tiny-llama", "prompt": "hello", "max_tokens": 4}


def assert_openai_error(r: httpx.Response, status: int = 400) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"], err
    return err


class GoodStream(threading.Thread):
    """A streaming chat answer read to its end while the test sends bad requests."""

    def __init__(self, server, max_tokens: int = 120):
        super().__init__()
        self.server, self.max_tokens, self.lines = server, max_tokens, []

    def run(self):
        body = CHAT | {"max_tokens": self.max_tokens, "stream": True, "temperature": 0.0}
        with httpx.stream("POST", self.server.url + "/v1/chat/completions", json=body, headers=self.server.headers,
                          timeout=120) as r:
            self.lines = [line for line in r.iter_lines() if line]

    def check(self):
        self.join(120)
        assert self.lines and self.lines[-1] == "data: [DONE]", self.lines[-3:]
        assert not any('"error"' in line for line in self.lines)


def post_ascii(http: httpx.Client, url: str, obj) -> httpx.Response:
    """POST ``obj`` as ASCII JSON, so a lone surrogate travels as its escape "\\ud800" (httpx's json= cannot send one)."""
    return http.post(url, content=json.dumps(obj), headers={"content-type": "application/json"})


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as c:
        yield c


def test_bad_numbers_are_400s_and_other_streams_go_on(server, http):
    stream = GoodStream(server)
    stream.start()
    bad_chat = [{"seed": 2**64}, {"seed": -(2**63) - 1}, {"temperature": -0.1}, {"temperature": 2.5}, {"top_p": 0},
                {"top_p": 1.5}, {"max_tokens": 10**30}, {"max_tokens": 0}, {"n": 10**9}, {"top_logprobs": 10**6,
                "logprobs": True}, {"top_k": -2}, {"repetition_penalty": 0}, {"repetition_penalty": 1e300},
                {"stop": ["x" * 100_000]}, {"stop": ["a", "b", "c", "d", "e"]}]
    for bad in bad_chat:
        assert_openai_error(http.post("/v1/chat/completions", json=CHAT | bad))
    for prompt in ([999999], [-5], [2**70], [[1, 2], [999999]], []):
        assert_openai_error(http.post("/v1/completions", json=COMPLETION | {"prompt": prompt}))
    for raw in ('"temperature": NaN', '"top_p": Infinity', '"seed": 1e400'):  # Python's json reads these
        body = json.dumps(CHAT)[:-1] + ", " + raw + "}"
        assert_openai_error(http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"}))
    # The extreme seeds of the accepted range work, also with n > 1 (seed + i wraps instead of overflowing).
    for seed in (2**63 - 1, -(2**63)):
        assert http.post("/v1/chat/completions", json=CHAT | {"seed": seed, "n": 2}).status_code == 200
    assert http.post("/v1/chat/completions", json=CHAT | {"temperature": 1e-300}).status_code == 200  # greedy
    cid = http.post("/api/conversations", json={}).json()["conversation"]["id"]
    for bad in ({"seed": 2**64}, {"seed": -1}, {"temperature": 1e300}, {"max_tokens": 10**30}):
        assert_openai_error(http.post(f"/api/conversations/{cid}/messages", json={"content": "hi"} | bad))
    for url in ("/api/conversations?offset=99999999999999999999999", "/api/admin/tasks?offset=99999999999999999999999",
                "/api/conversations?limit=-3", "/api/labeling/history?limit=99999999999999999999999",
                "/api/admin/tasks/99999999999999999999999"):
        assert_openai_error(http.get(url))
    assert_openai_error(http.delete("/api/me/keys/99999999999999999999999"))
    assert http.get(f"/api/conversations/{cid}").json()["conversation"]["messages"] == []  # nothing half-stored
    stream.check()


def test_lone_surrogates_are_400s_everywhere(server, http, tmp_path):
    stream = GoodStream(server)
    stream.start()
    lone = "broken \ud800 text"
    err = assert_openai_error(post_ascii(http, "/v1/chat/completions", CHAT | {"messages": [{"role": "user", "content": lone}]}))
    assert err["param"] == "messages.0.content" and err["code"] == "invalid_unicode"
    assert_openai_error(post_ascii(http, "/v1/completions", COMPLETION | {"prompt": lone}))
    as_bytes = json.dumps(CHAT).replace("hello", "\\ud800").encode()  # also as raw (CESU-8) bytes
    as_bytes_raw = as_bytes.replace(b"\\ud800", "\ud800".encode("utf-8", "surrogatepass"))
    for body in (as_bytes, as_bytes_raw):
        assert_openai_error(http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"}))
    cid = http.post("/api/conversations", json={}).json()["conversation"]["id"]
    assert_openai_error(post_ascii(http, f"/api/conversations/{cid}/messages", {"content": lone}))
    assert_openai_error(post_ascii(http, "/api/conversations", {"title": lone}))
    # In a task file the surrogate is an escape inside the text: parsed line by line, refused naming the line.
    jsonl = json.dumps({"prompt": "fine", "answers": ["a", "b"]}) + "\n" + json.dumps({"prompt": lone, "answers": ["a", "b"]})
    err = assert_openai_error(http.post("/api/admin/tasks", json={"kind": "compare", "jsonl": jsonl}))
    assert_openai_error(post_ascii(http, "/api/admin/tasks", {"kind": "demonstration", "rows": [{"prompt": lone}]}))
    assert "line 2" in err["message"]
    assert http.get("/api/admin/tasks").status_code == 200
    ok = http.post("/api/admin/tasks", json={"kind": "demonstration", "rows": [{"prompt": "write a poem"}]})
    task_id = ok.json()["task_ids"][0]
    task = http.get("/api/labeling/next", params={"kind": "demonstration"}).json()["task"]
    assert task["id"] == task_id
    assert_openai_error(post_ascii(http, f"/api/labeling/tasks/{task_id}/submit", {"answer": lone}))
    assert http.post(f"/api/labeling/tasks/{task_id}/submit", json={"answer": "a poem"}).status_code == 200
    stream.check()


def test_bodies_are_bounded_and_long_input_does_not_block(server, http):
    stream = GoodStream(server, max_tokens=200)
    stream.start()
    huge = CHAT | {"messages": [{"role": "user", "content": "x" * (5 * 2**20)}]}
    err = assert_openai_error(http.post("/v1/chat/completions", json=huge), 413)
    assert err["code"] == "request_too_large"

    def chunked():  # no Content-Length: the limit still holds while the body streams in
        for _ in range(6):
            yield b"x" * 2**20

    assert_openai_error(http.post("/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"}), 413)
    # Under the body limit but far over the context: refused without tokenizing, and not stored.
    cid = http.post("/api/conversations", json={}).json()["conversation"]["id"]
    started = time.monotonic()
    for _ in range(3):
        err = assert_openai_error(http.post(f"/api/conversations/{cid}/messages", json={"content": "hello " * 600_000}))
        assert err["code"] == "context_length_exceeded"
    assert_openai_error(http.post("/v1/chat/completions", json=CHAT | {"messages": [{"role": "user", "content": "y" * 3_000_000}]}))
    assert time.monotonic() - started < 10
    assert http.get(f"/api/conversations/{cid}").json()["conversation"]["messages"] == []
    # Just over the context (tokenized in a worker thread): refused and not stored either.
    assert_openai_error(http.post(f"/api/conversations/{cid}/messages", json={"content": "hello " * 300}))
    assert http.get(f"/api/conversations/{cid}").json()["conversation"]["messages"] == []
    assert http.get("/api/health", timeout=2).status_code == 200
    stream.check()


def test_a_message_id_reveals_no_conversation(server, http):
    cid = http.post("/api/conversations", json={}).json()["conversation"]["id"]
    mid = http.post(f"/api/conversations/{cid}/messages", json={"content": "mine", "generate": False}).json()["user_message"]["id"]
    key = http.post("/api/admin/users", json={"name": "nosy", "role": "user"}).json()["api_key"]
    r = httpx.put(f"{server.url}/api/messages/{mid}/rating", json={"value": 1}, headers={"Authorization": f"Bearer {key}"})
    assert_openai_error(r, 404)
    assert cid not in r.text and mid in r.json()["error"]["message"]


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_load_and_faults(server):
    """16 good streams at once while other clients send bad values, disconnect mid-stream and send huge bodies."""
    import asyncio

    async def good(c: httpx.AsyncClient, i: int) -> list[str]:
        body = CHAT | {"max_tokens": 32, "stream": True, "temperature": 1.0, "seed": i,
                       "messages": [{"role": "user", "content": f"hello {i}"}]}
        async with c.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            return [line async for line in r.aiter_lines() if line]

    async def bad(c: httpx.AsyncClient, i: int) -> int:
        kind = i % 4
        if kind == 0:
            r = await c.post("/v1/chat/completions", json=CHAT | {"seed": 2**64 + i})
        elif kind == 1:
            r = await c.post("/v1/completions", json=COMPLETION | {"prompt": [10**6 + i]})
        elif kind == 2:
            r = await c.post("/v1/chat/completions", json=CHAT | {"messages": [{"role": "user", "content": "z" * 5_000_000}]})
        else:  # reads one chunk of a long answer, then hangs up
            async with c.stream("POST", "/v1/chat/completions", json=CHAT | {"max_tokens": 200, "stream": True}) as s:
                async for _ in s.aiter_lines():
                    break
            return 0
        return r.status_code

    async def burst():
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=120, limits=limits) as c:
            return await asyncio.gather(*[good(c, i) for i in range(16)], *[bad(c, i) for i in range(16)])

    before = _rss_mb(server.proc.pid)
    results = asyncio.run(burst())
    streams, codes = results[:16], results[16:]
    for lines in streams:
        assert lines[-1] == "data: [DONE]" and not any('"error"' in line for line in lines), lines[-3:]
        finish = [json.loads(line[6:])["choices"][0]["finish_reason"] for line in lines[:-1]]
        assert finish[-1] in ("stop", "length")
    assert sorted(set(codes)) == [0, 400, 413]
    deadline = time.monotonic() + 10
    while httpx.get(server.url + "/api/admin/stats", headers=server.headers).json()["engine"]["running"]:
        assert time.monotonic() < deadline, "rows left running after the burst"
        time.sleep(0.1)
    # Nothing of the burst is kept: the 5 MB bodies were refused before being buffered whole.
    assert _rss_mb(server.proc.pid) < before + 150, (before, _rss_mb(server.proc.pid))
