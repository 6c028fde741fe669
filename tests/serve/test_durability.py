"""Nothing acknowledged is lost: SIGKILL the server while clients submit, restart, find every write
(on SQLite and on a real PostgreSQL server)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from kaizen.serve.db import Database, Rating


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_loses_no_acknowledged_rating(start_server, tmp_path, backend, request):
    db_url = f"sqlite:///{tmp_path / 'serve.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    srv = start_server(db_url, tmp_path / "server.log", "--rate_limit_per_minute", "0")
    headers = srv.headers
    try:
        cid = httpx.post(srv.url + "/api/conversations", json={}, headers=headers).json()["conversation"]["id"]
        root = httpx.post(f"{srv.url}/api/conversations/{cid}/messages", headers=headers,
                          json={"content": "rate my answers", "generate": False}).json()["user_message"]["id"]
        acked: list[tuple[str, int, str]] = []  # (message id, value, reason) the server answered 200 to
        lock, stop = threading.Lock(), threading.Event()

        def rater(worker: int) -> None:
            with httpx.Client(base_url=srv.url, headers=headers, timeout=5) as c:
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        r = c.post(f"/api/conversations/{cid}/messages",
                                   json={"content": f"answer {worker}.{n}", "parent_id": root, "role": "assistant"})
                        if r.status_code != 200:
                            continue
                        mid, value, reason = r.json()["message"]["id"], 1 if n % 2 else -1, f"w{worker} n{n}"
                        r = c.put(f"/api/messages/{mid}/rating", json={"value": value, "reason": reason})
                        if r.status_code == 200:
                            with lock:
                                acked.append((mid, value, reason))
                    except httpx.HTTPError:
                        return  # the server is gone

        threads = [threading.Thread(target=rater, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.proc.send_signal(signal.SIGKILL)  # mid-flight: requests are in progress on every thread
        srv.proc.wait()
        stop.set()
        for t in threads:
            t.join()
    finally:
        srv.stop()
    assert len(acked) >= 60, f"only {len(acked)} ratings acknowledged before the kill"

    srv = start_server(db_url, tmp_path / "server.log", "--rate_limit_per_minute", "0")
    try:
        conv = httpx.get(f"{srv.url}/api/conversations/{cid}", headers=headers).json()["conversation"]
    finally:
        srv.stop()
    stored = {m["id"]: m["rating"] for m in conv["messages"]}
    missing = [a for a in acked if a[0] not in stored or stored[a[0]] is None
               or (stored[a[0]]["value"], stored[a[0]]["reason"]) != a[1:]]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged ratings lost: {missing[:3]}"
    db = Database(db_url)
    with db.session() as s:
        assert s.query(Rating).count() >= len(acked)
    db.close()
