"""The web chat's JSON API: message trees, streaming, regenerate, edit/branch, ratings, ownership, login."""

from __future__ import annotations

import json



def events(response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def new_conversation(client, **body) -> str:
    r = client.post("/api/conversations", json=body)
    assert r.status_code == 200, r.text
    return r.json()["conversation"]["id"]


def send(client, cid, content, parent_id=None, **kw):
    r = client.post(f"/api/conversations/{cid}/messages",
                    json={"content": content, "parent_id": parent_id, "stream": False, "max_tokens": 6} | kw)
    assert r.status_code == 200, r.text
    return r.json()


def test_multi_turn_with_system_prompt_is_a_tree(app_client, engine, monkeypatch):
    prompts = []
    real = engine.generate

    def spy(ids, params):
        prompts.append(engine.tokenizer.decode(ids))
        return real(ids, params)

    monkeypatch.setattr(engine, "generate", spy)
    cid = new_conversation(app_client, system_prompt="You are terse.")
    first = send(app_client, cid, "hello world")
    second = send(app_client, cid, "how are you", parent_id=first["message"]["id"])
    assert first["user_message"]["parent_id"] is None
    assert first["message"]["parent_id"] == first["user_message"]["id"]
    assert second["user_message"]["parent_id"] == first["message"]["id"]
    assert prompts[1].startswith("<|system|>\nYou are terse.<|end|>\n<|user|>\nhello world<|end|>\n<|assistant|>\n")
    assert prompts[1].endswith("<|user|>\nhow are you<|end|>\n<|assistant|>\n")
    conv = app_client.get(f"/api/conversations/{cid}").json()["conversation"]
    assert conv["title"] == "hello world" and [m["role"] for m in conv["messages"]] == ["user", "assistant"] * 2


def test_streaming_events_then_stored(app_client):
    cid = new_conversation(app_client)
    with app_client.stream("POST", f"/api/conversations/{cid}/messages",
                           json={"content": "hello", "max_tokens": 8, "seed": 1}) as r:
        assert r.status_code == 200
        evs = events(r)
    kinds = [e["type"] for e in evs]
    assert kinds[:2] == ["user_message", "start"] and kinds[-1] == "done"
    streamed = "".join(e["content"] for e in evs if e["type"] == "delta")
    done = evs[-1]["message"]
    assert done["content"] == streamed and done["id"] == evs[1]["id"] and done["source"] == "model"
    stored = app_client.get(f"/api/conversations/{cid}").json()["conversation"]["messages"]
    assert stored[-1]["content"] == streamed


def test_regenerate_edit_branch_choose_and_rate(app_client):
    cid = new_conversation(app_client)
    first = send(app_client, cid, "hello")
    user_id = first["user_message"]["id"]
    r = app_client.post(f"/api/conversations/{cid}/regenerate", json={"parent_id": user_id, "stream": False})
    alt = r.json()["message"]
    assert alt["parent_id"] == user_id and alt["id"] != first["message"]["id"]
    # edit: a new user turn with the edited message's parent becomes a sibling branch
    edited = send(app_client, cid, "hello there", parent_id=None, generate=False)
    assert edited["message"] is None and edited["user_message"]["parent_id"] is None
    # an assistant answer the user wrote
    mine = send(app_client, cid, "Hi! How can I help?", parent_id=user_id, role="assistant")
    assert mine["message"]["source"] == "human" and mine["user_message"] is None
    chosen = app_client.post(f"/api/messages/{alt['id']}/choose").json()["message"]
    assert chosen["chosen"] is True
    rated = app_client.put(f"/api/messages/{alt['id']}/rating", json={"value": -1, "reason": "wrong"}).json()
    assert rated["message"]["rating"]["value"] == -1
    rated = app_client.put(f"/api/messages/{alt['id']}/rating", json={"value": 1}).json()
    assert rated["message"]["rating"] == {"value": 1, "reason": None, "updated_at": rated["message"]["rating"]["updated_at"]}
    msgs = app_client.get(f"/api/conversations/{cid}").json()["conversation"]["messages"]
    siblings = [m for m in msgs if m["parent_id"] == user_id]
    assert len(siblings) == 3 and sum(m["chosen"] for m in siblings) == 1
    assert [m for m in msgs if m["parent_id"] is None][1]["content"] == "hello there"
    assert app_client.delete(f"/api/messages/{alt['id']}/rating").json()["message"]["rating"] is None
    # turns must alternate
    bad = app_client.post(f"/api/conversations/{cid}/messages",
                          json={"content": "x", "parent_id": user_id, "stream": False})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "role"
    assert app_client.put(f"/api/messages/{user_id}/rating", json={"value": 1}).status_code == 400
    assert app_client.put(f"/api/messages/{alt['id']}/rating", json={"value": 3}).status_code == 400


def test_users_see_only_their_own(app_client, add_user):
    bob = {"Authorization": "Bearer " + add_user(app_client, "bob", "user")}
    cid = new_conversation(app_client, title="admin's")
    msg = send(app_client, cid, "secret")["message"]["id"]
    assert app_client.get("/api/conversations", headers=bob).json()["conversations"] == []
    assert app_client.get(f"/api/conversations/{cid}", headers=bob).status_code == 404
    assert app_client.put(f"/api/messages/{msg}/rating", json={"value": 1}, headers=bob).status_code == 404
    assert app_client.post(f"/api/conversations/{cid}/messages", json={"content": "hi"}, headers=bob).status_code == 404
    assert app_client.get("/api/labeling/next", headers=bob).status_code == 403
    assert app_client.get("/api/admin/stats", headers=bob).json()["error"]["type"] == "permission_error"


def test_history_export_and_delete(app_client):
    cid = new_conversation(app_client)
    send(app_client, cid, "hello")
    r = app_client.get(f"/api/conversations/{cid}/export")
    assert "attachment" in r.headers["content-disposition"] and len(r.json()["messages"]) == 2
    assert [c["id"] for c in app_client.get("/api/me/export").json()["conversations"]] == [cid]
    assert app_client.patch(f"/api/conversations/{cid}", json={"title": "renamed"}).json()["conversation"]["title"] == "renamed"
    assert app_client.delete(f"/api/conversations/{cid}").json() == {"ok": True}
    assert app_client.get("/api/conversations").json()["conversations"] == []
    assert app_client.get(f"/api/conversations/{cid}").status_code == 404


def test_login_cookie_and_tokens(app_client, add_user):
    add_user(app_client, "carol", "labeler", password="correct horse")
    anon = {"Authorization": ""}
    assert app_client.post("/api/login", json={"username": "carol", "password": "nope"}, headers=anon).status_code == 401
    r = app_client.post("/api/login", json={"username": "carol", "password": "correct horse"}, headers=anon)
    assert r.status_code == 200 and "kaizen_session" in r.cookies
    token = r.json()["token"]
    del app_client.headers["Authorization"]  # from here on the cookie alone authenticates
    assert app_client.get("/api/me").json()["user"]["name"] == "carol"
    assert app_client.get("/api/labeling/guidelines").status_code == 200
    assert app_client.post("/api/me/keys", json={"name": "csrf"}).status_code == 403  # a cookie change needs its Origin
    app_client.headers["Origin"] = "http://testserver"  # what a browser sends from the server's own pages
    key = app_client.post("/api/me/keys", json={"name": "script"}).json()["api_key"]
    assert app_client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert app_client.post("/api/logout").json()["ok"] is True
    app_client.cookies.clear()
    assert app_client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_info_and_health_need_no_key(app_client):
    anon = {"Authorization": ""}
    assert app_client.get("/api/health", headers=anon).json() == {"status": "ok", "model": "tiny-llama"}
    assert app_client.get("/api/info", headers=anon).json()["max_input_tokens"] == 255
