"""Replication is never exceeded, on a real ``kaizen serve`` over SQLite and over PostgreSQL: skipped or
expired claims cannot submit, a done task takes no more, concurrent labelers racing for the same
tasks never fill one beyond its replication; and what cannot train (all_bad, all ties) is not exported."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from tests.serve.conftest import ADMIN_KEY, Server

ANSWERS = ["a", "b", "c", "d"]
CLAIM_MINUTES = 0.05  # 3 s: long enough for a step of the test, short enough to wait out


@pytest.fixture(params=["sqlite", "postgresql"])
def srv(request, model_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    server = Server(model_dir, url, tmp_path / "server.log", "--rate_limit_per_minute", "0",
                    "--claim_minutes", str(CLAIM_MINUTES))
    yield server
    server.stop()


def test_replication_is_never_exceeded(srv):
    admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)

    def labeler(name: str) -> httpx.Client:
        key = admin.post("/api/admin/users", json={"name": name, "role": "labeler"}).json()["api_key"]
        return httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    l1, l2, l3 = labeler("l1"), labeler("l2"), labeler("l3")
    rank = admin.post("/api/admin/tasks", json={"rows": [{"prompt": "p", "answers": ANSWERS}]}).json()["task_ids"][0]
    ranks = {"ranks": [1, 2, 3, 4]}
    assert l1.get("/api/labeling/next").json()["task"]["id"] == rank
    assert l2.get("/api/labeling/next").json()["task"] is None  # replication 1: taken
    assert l1.post(f"/api/labeling/tasks/{rank}/skip").status_code == 200
    skipped = l1.post(f"/api/labeling/tasks/{rank}/submit", json=ranks)
    assert skipped.status_code == 409 and skipped.json()["error"]["code"] == "claim_not_active"
    assert l2.get("/api/labeling/next").json()["task"]["id"] == rank
    assert l2.post(f"/api/labeling/tasks/{rank}/submit", json=ranks).status_code == 200
    assert l3.post(f"/api/labeling/tasks/{rank}/submit", json=ranks).status_code == 404  # no claim at all
    assert admin.get(f"/api/admin/tasks/{rank}").json()["task"]["submitted"] == 1

    demo = admin.post("/api/admin/tasks", json={"kind": "demonstration", "rows": [{"prompt": "write"}]}).json()["task_ids"][0]
    assert l1.get("/api/labeling/next").json()["task"]["id"] == demo
    time.sleep(CLAIM_MINUTES * 60 + 0.3)  # l1's claim expires; its place is free again
    assert l3.get("/api/labeling/next").json()["task"]["id"] == demo
    expired = l1.post(f"/api/labeling/tasks/{demo}/submit", json={"answer": "late"})
    assert expired.status_code == 409 and expired.json()["error"]["code"] == "claim_expired"
    assert l1.get("/api/labeling/next").json()["task"] is None  # l3 holds the only place: no renewal
    assert l3.post(f"/api/labeling/tasks/{demo}/submit", json={"answer": "on time"}).status_code == 200
    assert admin.get(f"/api/admin/tasks/{demo}").json()["task"]["status"] == "done"

    bad = admin.post("/api/admin/tasks", json={"rows": [{"prompt": "q", "answers": ANSWERS}] * 2}).json()["task_ids"]
    for body in ({"all_bad": True}, {"ranks": [2, 2, 2, 2]}):
        tid = l1.get("/api/labeling/next").json()["task"]["id"]
        assert l1.post(f"/api/labeling/tasks/{tid}/submit", json=body).status_code == 200
    exported = admin.get("/api/admin/export").json()["rankings"]
    assert [r["id"] for r in exported] == [f"task{rank}:l2"]  # the all_bad and all-tie rankings give no pair
    assert not set(bad) & {int(r["id"].split(":")[0][4:]) for r in exported}

    # The race: 8 labelers at once on 6 tasks of replication 2.
    race = admin.post("/api/admin/tasks", json={"replication": 2, "rows": [{"prompt": f"r{i}", "answers": ANSWERS}
                                                                           for i in range(6)]}).json()["task_ids"]
    racers = [labeler(f"racer{i}") for i in range(8)]
    accepted: Counter = Counter()
    lock = threading.Lock()

    def work(c: httpx.Client):
        while (task := c.get("/api/labeling/next").json()["task"]) is not None:
            if c.post(f"/api/labeling/tasks/{task['id']}/submit", json=ranks).status_code == 200:
                with lock:
                    accepted[task["id"]] += 1

    threads = [threading.Thread(target=work, args=(c,)) for c in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stored = {tid: admin.get(f"/api/admin/tasks/{tid}").json()["task"] for tid in race}
    assert all(accepted[tid] == len(stored[tid]["submissions"]) <= 2 for tid in race), (accepted, stored)
    assert sum(accepted.values()) == 12 and all(t["status"] == "done" for t in stored.values())
