"""Accounts: password hashing, API keys, the request's principal, roles and per-key rate limits.

A credential is an API key (``Authorization: Bearer kz-...``) or a browser login token (the
same header, or the ``kaizen_session`` cookie). Only a key's SHA-256 is stored, so a copy of
the database gives no working key. Passwords use scrypt (RFC 7914) with a per-user salt.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy import select

from kaizen.serve.config import ROLES
from kaizen.serve.db import ApiKey, User, utcnow
from kaizen.serve.errors import APIError

COOKIE = "kaizen_session"
SESSION_DAYS = 7
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # the interactive-login parameters recommended by RFC 7914 §2


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


_DUMMY_HASH: list[str] = []


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches; with no stored hash a dummy one is checked, so an unknown user
    (or one without a password) costs the same scrypt time as a known one and names cannot be told apart."""
    if not stored:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
        verify_password(password, _DUMMY_HASH[0])
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(session, user_id: int, name: str = "", kind: str = "api", secret: str | None = None) -> tuple[str, ApiKey]:
    """Create a key; the secret is returned once and only its hash is kept."""
    secret = secret or ("kz-" + secrets.token_urlsafe(32))
    expires = utcnow() + timedelta(days=SESSION_DAYS) if kind == "session" else None
    key = ApiKey(user_id=user_id, key_hash=hash_key(secret), prefix=secret[:8], name=name, kind=kind,
                 expires_at=expires, revoked=False, created_at=utcnow())
    session.add(key)
    session.flush()
    return secret, key


def create_user(session, name: str, role: str, password: str | None = None, key: str | None = None) -> tuple[User, str]:
    """A user and their first API key (``key`` if given, else a random one)."""
    if role not in ROLES:
        raise APIError(400, f"role must be one of {list(ROLES)}", param="role")
    if not name or len(name) > 64:
        raise APIError(400, "name must be 1 to 64 characters", param="name")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise APIError(409, f"a user named '{name}' already exists", param="name")
    user = User(name=name, role=role, password_hash=hash_password(password) if password else None,
                disabled=False, created_at=utcnow())
    session.add(user)
    session.flush()
    secret, _ = new_key(session, user.id, name="default", secret=key)
    return user, secret


def ensure_admin(db, name: str, key: str | None = None, password: str | None = None) -> str | None:
    """On first start (no users yet) create the admin; return their new key to print, else None.

    A configured ``key`` is also added to an existing admin that lacks it, so a fixed key from
    the config keeps working across fresh databases and old ones alike.
    """
    with db.session() as s:
        if s.scalar(select(User).limit(1)) is None:
            _, secret = create_user(s, name, "admin", password=password, key=key)
            return secret
        if key is not None and s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key))) is None:
            admin = s.scalar(select(User).where(User.name == name))
            if admin is None:
                admin, _ = create_user(s, name, "admin", password=password, key=key)
            else:
                new_key(s, admin.id, name="config", secret=key)
    return None


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    role: str
    key_id: int
    key_kind: str

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class RateLimiter:
    """A token bucket per user (all their keys and sessions together, so a new login or key gives no
    fresh bucket): ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: int):
        self.rate, self.burst = per_minute / 60.0, max(1, burst)
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int | str) -> float:
        """0 if allowed, else the seconds until a request would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key_id] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[key_id] = (tokens - 1, now)
            return 0.0


class LoginGuard:
    """Failed logins per user name and per client address in a sliding window; past the limit, 429.

    Checked before the password is hashed, so a guessing client costs the server no scrypt work;
    the name need not exist, so a lockout does not tell which names do.
    """

    def __init__(self, per_user: int, per_client: int, window_s: float):
        self.limits = {"user": per_user, "client": per_client}
        self.window = window_s
        self._failures: dict[tuple[str, str], collections.deque] = {}
        self._lock = threading.Lock()

    def wait(self, name: str, client: str) -> float:
        """0 if a login may be tried now, else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            waits = [0.0]
            for kind, who in (("user", name), ("client", client)):
                times = self._recent((kind, who), now)
                if self.limits[kind] > 0 and len(times) >= self.limits[kind]:
                    waits.append(times[len(times) - self.limits[kind]] + self.window - now)
            return max(waits)

    def failed(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (("user", name), ("client", client)):
                self._failures.setdefault(key, collections.deque()).append(now)
            if len(self._failures) > 10_000:  # many names tried once each: forget what left the window
                for key in list(self._failures):
                    self._recent(key, now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(("user", name), None)

    def _recent(self, key, now: float) -> collections.deque:
        times = self._failures.get(key, collections.deque())
        while times and times[0] < now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def check_origin(request: Request) -> None:
    """A state-changing request authenticated by the cookie must come from this server's own pages.

    SameSite=Lax still sends the cookie from another port or subdomain of the same site, so the
    browser's Origin (or, lacking it, Referer) must name this host; OWASP's CSRF cheat sheet,
    "Verifying Origin With Standard Headers". API clients use the Authorization header instead.
    """
    source = urlsplit(request.headers.get("origin") or request.headers.get("referer") or "")
    same_host = bool(source.netloc) and source.netloc == request.headers.get("host")
    if not same_host and f"{source.scheme}://{source.netloc}" not in request.app.state.kaizen.cfg.allowed_origins:
        raise APIError(403, "Cross-site request refused: a browser request that changes something must come from "
                            "this server's own pages (Origin header); scripts should send an API key instead.",
                       code="csrf_origin_mismatch")


def revoke_credentials(s, user_id: int, keep_key_id: int | None = None, sessions_only: bool = False) -> int:
    """Revoke the user's sessions (and API keys unless ``sessions_only``), all but ``keep_key_id``; the count."""
    q = select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked.is_(False))
    if sessions_only:
        q = q.where(ApiKey.kind == "session")
    keys = [k for k in s.scalars(q) if k.id != keep_key_id]
    for k in keys:
        k.revoked = True
    return len(keys)


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return request.cookies.get(COOKIE)


def authenticate(request: Request) -> Principal:
    """The caller, from their key or session; raises 401 (OpenAI's messages) or 429."""
    state = request.app.state.kaizen
    secret = _credential(request)
    if secret is None:
        raise APIError(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or log in.")
    with state.db.reader() as s:
        row = s.execute(select(ApiKey, User).join(User, User.id == ApiKey.user_id)
                        .where(ApiKey.key_hash == hash_key(secret))).first()
    if row is None or row[0].revoked or row[1].disabled or (row[0].expires_at and row[0].expires_at < utcnow()):
        raise APIError(401, f"Incorrect API key provided: {secret[:6]}****. Log in again or ask an admin for a key.",
                       code="invalid_api_key")
    key, user = row
    if request.method not in SAFE_METHODS and not request.headers.get("authorization"):  # the cookie: CSRF-able
        check_origin(request)
    wait = state.limiter.take(user.id)
    if wait > 0:
        raise APIError(429, f"Rate limit reached for {user.name}: please try again in {wait:.1f}s.",
                       code="rate_limit_exceeded", type="requests", headers={"Retry-After": str(max(1, round(wait)))})
    return Principal(user.id, user.name, user.role, key.id, key.kind)


def require(role: str):
    """A FastAPI dependency: the authenticated caller, who must have at least ``role``."""

    def dependency(request: Request) -> Principal:
        who = authenticate(request)
        if not who.has(role):
            raise APIError(403, f"This needs the '{role}' role; {who.name} has '{who.role}'.")
        return who

    dependency.__name__ = f"require_{role}"
    return dependency
