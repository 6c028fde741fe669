"""Login, logout, the caller's profile and keys; health and info for the UI (no auth).

First start: ``kaizen serve`` prints a one-time sign-in link for an admin without a password
(``issue_login_link``); the login page trades it for a session at ``POST /api/login/link``.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from kaizen import __version__
from kaizen.serve.auth import (COOKIE, SESSION_DAYS, Principal, authenticate, check_origin, hash_key, hash_password,
                               new_key, require, revoke_credentials, verify_password)
from kaizen.serve.db import ApiKey, User
from kaizen.serve.edge import RowId
from kaizen.serve.errors import APIError, not_found
from kaizen.serve.runtime import state_of
from kaizen.serve.store import key_dict, user_dict

router = APIRouter(prefix="/api", tags=["account"])
STRICT = ConfigDict(strict=True, extra="ignore")
LINK_MINUTES = 30  # long enough to open the link after the model has loaded, short enough to be worthless later


class Login(BaseModel):
    model_config = STRICT
    username: str = Field(max_length=64)  # user names are 1..64 characters (auth.create_user)
    password: str = Field(max_length=1024)


class LinkLogin(BaseModel):
    model_config = STRICT
    token: str = Field(max_length=256)


class PasswordChange(BaseModel):
    model_config = STRICT
    old_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class KeyRequest(BaseModel):
    model_config = STRICT
    name: str = Field("", max_length=64)


@router.get("/health")
def health(request: Request):
    return {"status": "ok", "model": state_of(request).engine.model_name}


@router.get("/info")
def info(request: Request):
    state = state_of(request)
    return {"model": state.engine.model_name, "models": list(state.engines()), "max_input_tokens": state.max_input_tokens,
            "max_new_tokens": state.cfg.max_new_tokens, "version": __version__}


@router.post("/login")
def login(body: Login, request: Request, response: Response):
    state = state_of(request)
    if request.headers.get("origin"):  # login CSRF: another site's page must not sign the browser in
        check_origin(request)
    client = request.client.host if request.client else "?"
    guard = state.login_guard
    if guard is not None and (wait := guard.wait(body.username, client)) > 0:
        raise APIError(429, f"Too many failed logins: try again in {wait:.0f}s.", code="too_many_login_attempts",
                       type="rate_limit_error", headers={"Retry-After": str(max(1, round(wait)))})
    with state.db.session() as s:
        user = s.scalar(select(User).where(User.name == body.username))
        ok = verify_password(body.password, user.password_hash if user is not None else None)  # dummy hash if unknown
        if user is None or user.disabled or not ok:
            if guard is not None:
                guard.failed(body.username, client)
            raise APIError(401, "Wrong username or password.", code="invalid_credentials")
        if guard is not None:
            guard.succeeded(body.username)
        token, _ = new_key(s, user.id, name="login", kind="session")
        out = {"token": token, "user": user_dict(user)}
    response.set_cookie(COOKIE, token, max_age=SESSION_DAYS * 86400, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return out


def issue_login_link(app, db, name: str, minutes: float = LINK_MINUTES) -> str | None:
    """A one-time sign-in token for the user ``name`` if they have no password yet, else None.

    Single use and expiring; only its hash is kept, in the server's memory, so a restart
    invalidates it (and prints a new one while the password is still unset).
    """
    with db.reader() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None or user.disabled or user.password_hash:
            return None
    token = secrets.token_urlsafe(32)
    links = getattr(app.state, "login_links", None)
    if links is None:
        links = app.state.login_links = {}
    links[hash_key(token)] = (name, time.monotonic() + minutes * 60)
    return token


@router.post("/login/link")
def login_with_link(body: LinkLogin, request: Request, response: Response):
    if request.headers.get("origin"):
        check_origin(request)
    entry = getattr(request.app.state, "login_links", {}).pop(hash_key(body.token), None)  # pop: single use
    if entry is None or entry[1] < time.monotonic():
        raise APIError(401, "This sign-in link was already used or has expired. Restart `kaizen serve` for a new "
                            "one, or sign in with the admin's API key.", code="invalid_login_link")
    with state_of(request).db.session() as s:
        user = s.scalar(select(User).where(User.name == entry[0]))
        if user is None or user.disabled:
            raise APIError(401, "This sign-in link's user no longer exists or is disabled.", code="invalid_login_link")
        token, _ = new_key(s, user.id, name="login link", kind="session")
        out = {"token": token, "user": user_dict(user), "has_password": bool(user.password_hash)}
    response.set_cookie(COOKIE, token, max_age=SESSION_DAYS * 86400, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return out


@router.post("/logout")
def logout(request: Request, response: Response, everywhere: bool = False, who: Principal = Depends(authenticate)):
    """End this browser session; ``?everywhere=true`` ends every session of the user (API keys stay)."""
    with state_of(request).db.session() as s:
        key = s.get(ApiKey, who.key_id)
        if key is not None and key.kind == "session":
            key.revoked = True
        ended = revoke_credentials(s, who.user_id, sessions_only=True) if everywhere else 0
    response.delete_cookie(COOKIE)
    return {"ok": True, "other_sessions_ended": ended}


@router.get("/me")
def me(request: Request, who: Principal = Depends(require("user"))):
    with state_of(request).db.reader() as s:
        user = s.get(User, who.user_id)
        return {"user": user_dict(user), "has_password": bool(user.password_hash)}


@router.post("/me/password")
def change_password(body: PasswordChange, request: Request, who: Principal = Depends(require("user"))):
    with state_of(request).db.session() as s:
        user = s.get(User, who.user_id)
        if user.password_hash and not verify_password(body.old_password, user.password_hash):
            raise APIError(400, "old_password is wrong", param="old_password")
        had_password = bool(user.password_hash)
        user.password_hash = hash_password(body.new_password)
        # Whoever held the old password may have opened sessions or minted keys: only this credential stays.
        # A first password (the first-start sign-in link) replaces none, so the configured keys stay.
        revoked = revoke_credentials(s, user.id, keep_key_id=who.key_id) if had_password else 0
    return {"ok": True, "revoked_credentials": revoked}


@router.get("/me/keys")
def my_keys(request: Request, who: Principal = Depends(require("user"))):
    with state_of(request).db.reader() as s:
        keys = s.scalars(select(ApiKey).where(ApiKey.user_id == who.user_id, ApiKey.kind == "api").order_by(ApiKey.id))
        return {"keys": [key_dict(k) for k in keys]}


@router.post("/me/keys")
def make_key(request: Request, body: KeyRequest | None = None, who: Principal = Depends(require("user"))):
    with state_of(request).db.session() as s:
        secret, key = new_key(s, who.user_id, name=(body.name if body else ""))
        return {"api_key": secret, "key": key_dict(key)}


@router.delete("/me/keys/{key_id}")
def revoke_my_key(key_id: RowId, request: Request, who: Principal = Depends(require("user"))):
    with state_of(request).db.session() as s:
        key = s.get(ApiKey, key_id)
        if key is None or key.user_id != who.user_id:
            raise not_found(f"key {key_id}")
        key.revoked = True
    return {"ok": True}

