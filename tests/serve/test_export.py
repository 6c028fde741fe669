"""``kaizen export``: chat feedback, regenerate choices, rankings and demonstrations -> training files."""

from __future__ import annotations

import json

from kaizen.cli import main as kaizen_main
from kaizen.data.jsonl import read_jsonl


def send(client, cid, content, parent_id=None, **kw):
    r = client.post(f"/api/conversations/{cid}/messages",
                    json={"content": content, "parent_id": parent_id, "stream": False, "max_tokens": 4} | kw)
    assert r.status_code == 200, r.text
    return r.json()


def regenerate(client, cid, parent_id):
    return client.post(f"/api/conversations/{cid}/regenerate",
                       json={"parent_id": parent_id, "stream": False, "max_tokens": 4}).json()["message"]


def rows(path):
    return [row for _, row in read_jsonl(path)]


def test_export_turns_feedback_into_training_files(app_client, tmp_path, add_user):
    c = app_client.post("/api/conversations", json={"system_prompt": "Be brief."}).json()["conversation"]["id"]
    # 1. regenerate, keep the second answer -> K=2 ranking, kept one first
    a = send(app_client, c, "first question")
    q1 = a["user_message"]["id"]
    b = regenerate(app_client, c, q1)
    app_client.post(f"/api/messages/{b['id']}/choose")
    # 2. three answers, thumbs up on one and down on another -> a pair; the unrated one is not ranked
    q2 = send(app_client, c, "second question", parent_id=b["id"])
    up, down = q2["message"], regenerate(app_client, c, q2["user_message"]["id"])
    mid = regenerate(app_client, c, q2["user_message"]["id"])
    app_client.put(f"/api/messages/{up['id']}/rating", json={"value": 1})
    app_client.put(f"/api/messages/{down['id']}/rating", json={"value": -1, "reason": "rude"})
    # 3. thumbs down, then the user writes the answer: a demonstration, and a pair (own answer > rated down)
    third = send(app_client, c, "third question", parent_id=up["id"])
    app_client.put(f"/api/messages/{third['message']['id']}/rating", json={"value": -1})
    own = send(app_client, c, "My own answer.", parent_id=third["user_message"]["id"], role="assistant")["message"]
    # 4. a thumbs down with no alternative -> ratings.jsonl
    lone = send(app_client, c, "fourth question", parent_id=own["id"])
    app_client.put(f"/api/messages/{lone['message']['id']}/rating", json={"value": -1, "reason": "wrong"})
    # 5. a deleted conversation is left out
    gone = app_client.post("/api/conversations", json={}).json()["conversation"]["id"]
    g = send(app_client, gone, "x")
    app_client.put(f"/api/messages/{g['message']['id']}/rating", json={"value": 1})
    app_client.delete(f"/api/conversations/{gone}")
    # 6. labeling: a demonstration and a ranking with judgements
    lab = {"Authorization": "Bearer " + add_user(app_client, "lena", "labeler")}
    app_client.post("/api/admin/tasks", json={"kind": "demonstration", "rows": [{"prompt": "Say hi"}]})
    app_client.post("/api/admin/tasks", json={"rows": [{"prompt": "Pick", "answers": ["w", "x", "y", "z"]}]})
    for _ in range(2):
        t = app_client.get("/api/labeling/next", headers=lab).json()["task"]
        body = ({"answer": "Hi!"} if t["kind"] == "demonstration" else
                {"ranks": [2, 1, 3, 3], "judgements": [{"helpful": 5}, {"helpful": 7, "flags": ["expresses_opinion"]}, {}, {}]})
        assert app_client.post(f"/api/labeling/tasks/{t['id']}/submit", headers=lab, json=body).status_code == 200

    out = tmp_path / "feedback"
    db_url = app_client.app.state.kaizen.cfg.db_url
    assert kaizen_main(["export", "--db_url", db_url, "--out", str(out)]) == 0

    demos = rows(out / "demonstrations.jsonl")
    assert {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!", "weight": 1}],
            "id": demos[0]["id"], "meta": {"source": "labeling", "task_id": 1, "labeler": "lena"}} == demos[0]
    assert [d["id"] for d in demos[1:]] == [f"chat:{b['id']}", f"chat:{up['id']}", f"chat:{own['id']}"]  # kept, up, written
    chat_demo = demos[3]["messages"]
    assert chat_demo[0] == {"role": "system", "content": "Be brief."}
    assert chat_demo[-2:] == [{"role": "user", "content": "third question"},
                              {"role": "assistant", "content": "My own answer.", "weight": 1}]
    assert [m.get("weight") for m in chat_demo if m["role"] == "assistant"] == [0, 0, 1]  # earlier answers: context

    rankings = rows(out / "rankings.jsonl")
    labeled = [r for r in rankings if r["meta"]["source"] == "labeling"]
    assert labeled[0]["ranks"] == [2, 1, 3, 3] and labeled[0]["labeler"] == "lena"
    assert labeled[0]["judgements"][1] == {"helpful": 7, "flags": ["expresses_opinion"]}
    chat = {r["meta"]["message_ids"][0]: r for r in rankings if r["meta"]["source"] == "chat"}
    kept = chat[b["id"]]
    assert kept["answers"] == [b["content"], a["message"]["content"]] and kept["ranks"] == [1, 2]
    assert kept["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first question"}]
    pair = chat[up["id"]]
    assert pair["meta"]["message_ids"] == [up["id"], down["id"]] and pair["ranks"] == [1, 2]
    assert mid["id"] not in pair["meta"]["message_ids"]
    assert chat[own["id"]]["answers"] == ["My own answer.", third["message"]["content"]]
    assert chat[own["id"]]["ranks"] == [1, 2] and len(rankings) == 4

    ratings = rows(out / "ratings.jsonl")
    assert len(ratings) == 1 and ratings[0]["rating"] == -1 and ratings[0]["reason"] == "wrong"
    assert ratings[0]["prompt"][-1] == {"role": "user", "content": "fourth question"}
    report = json.loads((out / "export.json").read_text())
    assert report["counts"] == {"demonstrations": 4, "rankings": 4, "ratings": 1}
    assert report["skipped"] == {"thumbs_up: the user deleted the conversation": 1}

    api = app_client.get("/api/admin/export").json()
    assert api["counts"] == {"demonstrations": 4, "rankings": 4, "ratings": 1}
    assert api["skipped"] == report["skipped"] and api["signals"] == report["signals"]
    jsonl = app_client.get("/api/admin/export/rankings.jsonl")
    assert jsonl.headers["content-type"].startswith("application/x-ndjson") and len(jsonl.text.splitlines()) == 4


def test_export_without_database_is_a_clear_error(tmp_path, capsys):
    assert kaizen_main(["export", "--db_url", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path)]) == 2
    assert "no database" in capsys.readouterr().err
