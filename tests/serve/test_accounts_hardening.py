"""Accounts against an attacker, on a real ``kaizen serve``: login lockout per name and per client,
no timing difference for unknown names, a per-user rate limit that a new login does not reset,
credentials revoked on password change and logout, the Origin check on cookie-authenticated
changes, and the security headers."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from tests.serve.conftest import ADMIN_KEY, Server

PASSWORD = "a long password"


@pytest.fixture(scope="module")
def srv(model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accounts")
    server = Server(model_dir, f"sqlite:///{tmp / 'serve.db'}", tmp / "server.log", "--rate_limit_per_minute", "6",
                    "--rate_limit_burst", "12", "--login_failures_per_user", "5", "--login_failures_per_client", "16")
    yield server
    server.stop()


def add_user(srv, name: str, role: str = "user") -> dict:
    r = httpx.post(srv.url + "/api/admin/users", json={"name": name, "role": role, "password": PASSWORD},
                   headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200, r.text
    return r.json()


def login(srv, name: str, password: str = PASSWORD, **headers) -> httpx.Response:
    return httpx.post(srv.url + "/api/login", json={"username": name, "password": password}, headers=headers)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_login_lockout_timing_and_client_limit(srv):
    add_user(srv, "bob")
    add_user(srv, "tim")
    add_user(srv, "carl")
    for _ in range(5):
        assert login(srv, "bob", "guess").status_code == 401
    locked = login(srv, "bob")  # even the right password waits: the guesser cannot tell
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert locked.json()["error"]["code"] == "too_many_login_attempts"
    assert login(srv, "carl").status_code == 200  # another name is not locked

    def timed(name: str) -> float:
        start = time.perf_counter()
        assert login(srv, name, "wrong").status_code == 401
        return time.perf_counter() - start

    known = statistics.median(timed("tim") for _ in range(4))
    unknown = statistics.median(timed("nobody-by-that-name") for _ in range(4))
    assert unknown > 0.5 * known, (known, unknown)  # both pay one scrypt hash


def test_rate_limit_is_per_user_not_per_login(srv):
    add_user(srv, "rita")
    first = login(srv, "rita").json()["token"]
    codes = [httpx.get(srv.url + "/api/me", headers=bearer(first)).status_code for _ in range(13)]
    assert codes[:12] == [200] * 12 and codes[12] == 429
    again = login(srv, "rita").json()["token"]  # a fresh session shares the user's bucket
    assert httpx.get(srv.url + "/api/me", headers=bearer(again)).status_code == 429


def test_password_change_and_logout_revoke_credentials(srv):
    made = add_user(srv, "pat")
    key = made["api_key"]
    s1, s2 = login(srv, "pat").json()["token"], login(srv, "pat").json()["token"]
    minted = httpx.post(srv.url + "/api/me/keys", json={"name": "attacker's"}, headers=bearer(s2)).json()["api_key"]
    r = httpx.post(srv.url + "/api/me/password", json={"old_password": PASSWORD, "new_password": "another long one"},
                   headers=bearer(s1))
    assert r.status_code == 200 and r.json()["revoked_credentials"] == 3
    for gone in (s2, key, minted):
        assert httpx.get(srv.url + "/api/me", headers=bearer(gone)).status_code == 401
    assert httpx.get(srv.url + "/api/me", headers=bearer(s1)).status_code == 200
    assert httpx.post(srv.url + "/api/logout", headers=bearer(s1)).status_code == 200
    assert httpx.get(srv.url + "/api/me", headers=bearer(s1)).status_code == 401
    first = httpx.post(srv.url + "/api/admin/users", json={"name": "fay", "role": "user"}, headers=bearer(ADMIN_KEY))
    fay = first.json()["api_key"]  # no password yet: setting the first one revokes nothing
    r = httpx.post(srv.url + "/api/me/password", json={"old_password": "", "new_password": PASSWORD}, headers=bearer(fay))
    assert r.json()["revoked_credentials"] == 0 and httpx.get(srv.url + "/api/me", headers=bearer(fay)).status_code == 200
    s3 = login(srv, "pat", "another long one").json()["token"]
    reset = httpx.patch(f"{srv.url}/api/admin/users/{made['user']['id']}", json={"password": "reset by the admin"},
                        headers=bearer(ADMIN_KEY))
    assert reset.status_code == 200
    assert httpx.get(srv.url + "/api/me", headers=bearer(s3)).status_code == 401


def test_cookie_changes_need_this_servers_origin_and_headers_forbid_framing(srv):
    add_user(srv, "cora")
    token = login(srv, "cora").json()["token"]
    cookie = {"Cookie": f"kaizen_session={token}"}
    evil = f"http://127.0.0.1:{srv.port + 1}"  # same site (SameSite=Lax sends the cookie), another origin
    for headers in ({"Origin": evil}, {"Referer": evil + "/page.html"}, {}, {"Origin": "null"}):
        r = httpx.post(srv.url + "/api/me/keys", json={"name": "csrf"}, headers=cookie | headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_origin_mismatch", headers
        assert httpx.post(srv.url + "/api/conversations", json={}, headers=cookie | headers).status_code == 403
    assert login(srv, "cora", Origin=evil).status_code == 403  # no login CSRF either
    assert httpx.get(srv.url + "/api/me", headers=cookie).status_code == 200  # reading needs no Origin
    ours = {"Origin": srv.url}
    assert httpx.post(srv.url + "/api/me/keys", json={"name": "mine"}, headers=cookie | ours).status_code == 200
    assert httpx.post(srv.url + "/api/conversations", json={},
                      headers=cookie | {"Referer": srv.url + "/chat.html"}).status_code == 200
    assert httpx.post(srv.url + "/api/conversations", json={}, headers=bearer(token)).status_code == 200  # API clients
    for path in ("/", "/login.html", "/api/health", "/v1/models"):
        headers = httpx.get(srv.url + path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_a_guessing_client_is_throttled_whatever_the_name(srv):  # last: it locks this client out of logins
    for _ in range(16 - 13):  # 5 + 4 + 4 failures so far from this client (the first test); the limit is 16
        assert login(srv, "dave", "x").status_code == 401
    assert login(srv, "carl").status_code == 429
