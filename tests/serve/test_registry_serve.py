"""`kaizen serve --registry`: the promoted version is served, a newly promoted one is swapped in live."""

from __future__ import annotations

import json
import time

import httpx

from kaizen.registry import Registry
from kaizen.serve.registry import RegistryWatcher
from tests.serve.test_eval_judges import _second_model


def test_serve_follows_promotions_without_dropping_a_stream(start_server, model_dir, tmp_path, admin_headers):
    reg = Registry(tmp_path / "models")
    reg.register(model_dir, None, status="promoted")
    srv = start_server(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "r.log", "--registry", str(reg.root),
                       "--registry_poll_s", "0.2", "--rate_limit_per_minute", "0")
    c = httpx.Client(base_url=srv.url, headers=admin_headers, timeout=60)
    assert c.get("/v1/models").json()["data"][0]["id"] == "kaizen-v1"
    body = {"model": "kaizen-v1", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 200,
            "temperature": 1.0, "seed": 3, "stream": True}
    chunks, finish = [], []
    with c.stream("POST", "/v1/chat/completions", json=body) as res:
        lines = res.iter_lines()
        for line in lines:  # the stream is open and has produced its first token: now promote v2
            if line.startswith("data: {"):
                chunks.append(json.loads(line[6:]))
                break
        reg.register(_second_model(model_dir, tmp_path / "v2"), "v1", status="rejected")
        reg.register(_second_model(model_dir, tmp_path / "v3"), "v1", status="promoted")
        deadline = time.monotonic() + 60
        while c.get("/v1/models").json()["data"][0]["id"] != "kaizen-v3":
            assert time.monotonic() < deadline, (tmp_path / "r.log").read_text()
            time.sleep(0.2)
        for line in lines:
            if line.startswith("data: {"):
                chunks.append(json.loads(line[6:]))
                finish += [ch["finish_reason"] for ch in chunks[-1]["choices"] if ch["finish_reason"]]
    assert finish and finish[-1] in ("length", "stop")  # the stream in flight ended normally
    assert {ch["model"] for ch in chunks} == {"kaizen-v1"}
    after = c.post("/v1/chat/completions", json={**body, "model": "kaizen-v3", "stream": False}).json()
    assert after["model"] == "kaizen-v3" and after["choices"][0]["message"]["content"] is not None


class FakeEngine:
    def __init__(self, name, vocab):
        self.model_name, self.running, self.closed = name, 0, False
        self.tokenizer = type("Tok", (), {"get_vocab": lambda _self: vocab})()

    def close(self):
        self.closed = True


def test_watcher_drains_the_old_engine_and_refuses_another_tokenizer(tmp_path):
    from kaizen.serve.config import ServeConfig

    reg = Registry(tmp_path / "models")
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    reg.register(tmp_path / "a", None, status="promoted")
    state = type("State", (), {})()
    state.engine = FakeEngine("kaizen-v1", {"x": 0})
    state.engine.running = 1  # a stream still decoding on v1
    cfg = ServeConfig(registry=str(reg.root))
    loaded = {str(tmp_path / "b"): {"x": 0}, str(tmp_path / "c"): {"y": 0}}
    w = RegistryWatcher(state, cfg, "v1", lambda c: FakeEngine(c.served_model_name, loaded[c.model]), prefix=None)
    assert not w.check()
    reg.register(tmp_path / "b", "v1", status="promoted")
    old = state.engine
    assert w.check() and state.engine.model_name == "kaizen-v2" and w.version == "v2"
    time.sleep(1.5)
    assert not old.closed  # still busy: not closed under its stream
    old.running = 0
    deadline = time.monotonic() + 5
    while not old.closed and time.monotonic() < deadline:
        time.sleep(0.1)
    assert old.closed
    reg.register(tmp_path / "c", "v2", status="promoted")
    assert not w.check() and state.engine.model_name == "kaizen-v2" and "v3" in w.refused
    w.stop()  # never started: stopping is still safe
