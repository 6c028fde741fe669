"""Prompting strategies in the web chat's API: a message through a strategy is stored with its
reasoning in ``meta.kaizen`` and returned with it; the server's default applies unless a message
opts out; the picker's list comes from GET /api/strategies; the ``meta`` column migrates in."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from alembic import command
from alembic.config import Config

from kaizen.prompting import serve as prompting
from kaizen.prompting.serve import PromptingConfig
from kaizen.prompting.strategy import StrategySpec
from kaizen.serve.config import ServeConfig
from kaizen.serve.db import MIGRATIONS, Database
from kaizen.serve.filters import FilterContext, Filters

SC3 = {"strategy": "self_consistency", "n": 3}


def events(lines) -> list[dict]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"text": "two plus two is four. the sea is blue."}) + "\n")
    return path


def test_chat_message_with_a_strategy_stores_and_returns_its_reasoning(make_app, admin_headers, docs):
    # the whole app in process (a subprocess server costs ~15 s to start; test_browser_strategies.py uses one)
    with make_app(prompting=PromptingConfig(documents=[str(docs)])) as c:
        c.headers.update(admin_headers)
        offered = c.get("/api/strategies").json()
        assert "react" in offered["strategies"] and "self_consistency" in offered["strategies"]
        assert "best_of_n" not in offered["strategies"] and offered["default"] is None  # no reward model here
        cid = c.post("/api/conversations", json={}).json()["conversation"]["id"]

        r = c.post(f"/api/conversations/{cid}/messages",
                   json={"content": "what is two plus two", "stream": False, "max_tokens": 8, "seed": 2, "kaizen": SC3})
        assert r.status_code == 200, r.text
        answer = r.json()["message"]
        record = answer["meta"]["kaizen"]
        assert record["strategy"] == "self_consistency@3" and len(record["candidates"]) == 3
        assert record["reasoning"].endswith(f"3 samples; votes: {record['reasoning'].split('votes: ')[-1]}")
        assert answer["finish_reason"] == "stop" and record["tokens"] > 0

        with c.stream("POST", f"/api/conversations/{cid}/messages",
                      json={"content": "what is the sea", "parent_id": answer["id"], "max_tokens": 8,
                            "kaizen": {"strategy": "react", "max_steps": 1}}) as s:
            evs = events(s.iter_lines())
        assert [e["type"] for e in evs] == ["user_message", "start", "thinking", "delta", "done"], evs
        assert evs[2]["strategy"] == "react@1"
        done = evs[-1]["message"]
        assert done["content"] == evs[3]["content"] and done["id"] == evs[1]["id"]
        steps = done["meta"]["kaizen"]["steps"]
        assert 1 <= len(steps) <= 2 and done["meta"]["kaizen"]["reasoning"].startswith(("Thought:", "Action:"))

        bad = c.post(f"/api/conversations/{cid}/messages",
                     json={"content": "again", "stream": False, "kaizen": {"strategy": "telepathy"}})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "kaizen.strategy"

        stored = c.get(f"/api/conversations/{cid}").json()["conversation"]["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] * 2 + ["user"]  # "again" is kept, unanswered
    assert stored[1]["meta"] == answer["meta"] and stored[3]["meta"] == done["meta"]
    assert stored[0]["meta"] == {}


def test_server_default_applies_unless_the_message_opts_out(make_app, admin_headers):
    with make_app(prompting=PromptingConfig(strategy="self_consistency@2")) as c:
        c.headers.update(admin_headers)
        assert c.get("/api/strategies").json()["default"] == "self_consistency@2"
        cid = c.post("/api/conversations", json={}).json()["conversation"]["id"]
        body = {"content": "hello world", "stream": False, "max_tokens": 6}
        by_default = c.post(f"/api/conversations/{cid}/messages", json=body).json()["message"]
        assert by_default["meta"]["kaizen"]["strategy"] == "self_consistency@2"
        user_id = by_default["parent_id"]
        with c.stream("POST", f"/api/conversations/{cid}/regenerate",
                      json={"parent_id": user_id, "max_tokens": 6, "seed": 1, "kaizen": None}) as s:
            evs = events(s.iter_lines())
        assert "thinking" not in [e["type"] for e in evs] and evs[-1]["type"] == "done"
        assert evs[-1]["message"]["meta"] == {}
        r = c.post(f"/api/conversations/{cid}/regenerate",
                   json={"parent_id": user_id, "stream": False, "max_tokens": 6, "kaizen": {"strategy": "cot"}})
    assert r.json()["message"]["meta"]["kaizen"]["strategy"] == "cot"


def withhold_votes(text: str, messages: list[dict], ctx) -> str:
    """A response filter that withholds any text naming a vote (self-consistency's reasoning does)."""
    return "[withheld]" if "votes:" in text else text


def test_reasoning_and_samples_pass_the_response_filters(make_app, admin_headers):
    with make_app(response_filters=[withhold_votes]) as c:
        c.headers.update(admin_headers)
        cid = c.post("/api/conversations", json={}).json()["conversation"]["id"]
        r = c.post(f"/api/conversations/{cid}/messages",
                   json={"content": "hello world", "stream": False, "max_tokens": 6, "seed": 1, "kaizen": SC3})
        v1 = c.post("/v1/chat/completions", json={"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}],
                                                  "max_tokens": 6, "kaizen": SC3}).json()
    record = r.json()["message"]["meta"]["kaizen"]
    assert record["strategy"] == "self_consistency@3" and record["reasoning"] is None and record["candidates"] == []
    assert r.json()["message"]["content"] != "[withheld]"  # the answer itself passed
    assert v1["choices"][0]["message"]["reasoning_content"] is None and v1["kaizen"]["candidates"] == []


def test_meta_migrates_into_a_database_with_messages(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    db = Database(url)
    with db.engine.begin() as conn:  # a store from before the column, with a conversation in it
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql("INSERT INTO users (id, name, role, disabled, created_at) VALUES (1, 'u', 'user', 0, '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO conversations (id, user_id, title, system_prompt, created_at, updated_at, "
                             "deleted) VALUES ('c', 1, '', '', '2026-01-01', '2026-01-01', 0)")
        conn.exec_driver_sql("INSERT INTO messages (id, conversation_id, role, content, source, chosen, created_at) "
                             "VALUES ('m', 'c', 'user', 'hi', 'user', 0, '2026-01-01')")
    db.migrate()
    from kaizen.serve import store

    with db.reader() as s:
        [m] = store.messages_of(s, "c")
        assert store.message_dict(m)["meta"] == {} and m.content == "hi"
    db.close()


def test_an_abandoned_strategy_stops_sampling(engine, monkeypatch):
    live, finished, cancelled = set(), [], []
    real = engine.generate

    async def spy(ids, params):
        key = object()
        live.add(key)
        try:
            async for ev in real(ids, params):
                if ev.finish_reason and cancelled:  # a sample the tiny model ended before the cancel is fine
                    finished.append(ev.finish_reason)
                yield ev
        finally:
            live.discard(key)

    monkeypatch.setattr(engine, "generate", spy)
    state = SimpleNamespace(engine=engine, cfg=ServeConfig(model="tiny-llama"), filters=Filters(),
                            max_input_tokens=engine.max_context - 1)
    spec = StrategySpec("self_consistency", n=4, max_tokens=200, temperature=0.01)  # near-greedy: long answers
    who, ctx = SimpleNamespace(user_id=1), FilterContext("admin", "chat", "tiny-llama")

    async def cancel_once_sampling():
        task = asyncio.ensure_future(prompting.answer(state, None, spec, [{"role": "user", "content": "hello"}], who, ctx))
        while not live:
            await asyncio.sleep(0.005)
        cancelled.append(True)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task  # at once, not when the worker thread's strategy would have finished
        for _ in range(100):
            if not live:
                break
            await asyncio.sleep(0.01)
        # checked before asyncio.run's shutdown cancels what is left: the samples (seconds each) were
        # stopped, none finished after the cancel
        assert not live and not finished, (len(live), finished)

    asyncio.run(cancel_once_sampling())
