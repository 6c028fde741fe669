"""Admins' API: users and keys, labeling tasks, agreement, guidelines, statistics and export."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from kaizen.serve import store, tasks
from kaizen.serve.auth import Principal, create_user, hash_password, new_key, require, revoke_credentials
from kaizen.serve.db import ApiKey, Assignment, Conversation, Message, Rating, Task, User, iso
from kaizen.serve.edge import MAX_TOKENS_MAX, Limit, Offset, RowId
from kaizen.serve.errors import APIError, not_found
from kaizen.serve.export import collect
from kaizen.serve.labeling_api import GUIDELINES, guidelines
from kaizen.serve.runtime import state_of

router = APIRouter(prefix="/api/admin", tags=["admin"])
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
admin = require("admin")
Role = Literal["user", "labeler", "admin"]


class NewUser(BaseModel):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=64)
    role: Role = "user"
    password: str | None = Field(None, min_length=8)


class UserPatch(BaseModel):
    model_config = STRICT
    role: Role | None = None
    password: str | None = Field(None, min_length=8)
    disabled: bool | None = None


class KeyRequest(BaseModel):
    model_config = STRICT
    name: str = Field("", max_length=64)


class NewTasks(BaseModel):
    model_config = STRICT
    kind: Literal["rank", "demonstration", "compare"] = "rank"
    k: int = Field(4, ge=tasks.MIN_RANK_K, le=9)
    replication: int = Field(1, ge=1, le=20)
    generate: bool = True
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_MAX)
    jsonl: str | None = None
    rows: list[dict] | None = None


class Guidelines(BaseModel):
    model_config = STRICT
    markdown: str


@router.get("/stats")
def stats(request: Request, who: Principal = Depends(admin)):
    state = state_of(request)
    with state.db.reader() as s:
        count = lambda model, *where: s.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
        return {"users": count(User), "conversations": count(Conversation, Conversation.deleted.is_(False)),
                "messages": count(Message), "ratings_up": count(Rating, Rating.value > 0),
                "ratings_down": count(Rating, Rating.value < 0),
                "tasks": dict(s.execute(select(Task.status, func.count()).group_by(Task.status)).all()),
                "submissions": count(Assignment, Assignment.status == "submitted"),
                "engine": {k: getattr(state.engine, k, None) for k in ("running", "steps", "max_rows_seen", "cancelled")}}


@router.get("/users")
def users(request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        keys: dict[int, list] = {}
        for k in s.scalars(select(ApiKey).where(ApiKey.kind == "api").order_by(ApiKey.id)):
            keys.setdefault(k.user_id, []).append(store.key_dict(k))
        return {"users": [{**store.user_dict(u), "keys": keys.get(u.id, [])} for u in s.scalars(select(User).order_by(User.id))]}


@router.post("/users")
def add_user(body: NewUser, request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.session() as s:
        user, secret = create_user(s, body.name, body.role, password=body.password)
        return {"user": store.user_dict(user), "api_key": secret}


@router.patch("/users/{user_id}")
def patch_user(user_id: RowId, body: UserPatch, request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise not_found(f"user {user_id}")
        if user.id == who.user_id and (body.disabled or (body.role and body.role != "admin")):
            raise APIError(400, "you cannot disable or demote yourself; another admin can")
        if body.role is not None:
            user.role = body.role
        if body.password is not None:  # a reset: the old password's sessions and keys go with it
            user.password_hash = hash_password(body.password)
            revoke_credentials(s, user.id, keep_key_id=who.key_id)
        if body.disabled:
            revoke_credentials(s, user.id, sessions_only=True)
        if body.disabled is not None:
            user.disabled = body.disabled
        return {"user": store.user_dict(user)}


@router.post("/users/{user_id}/keys")
def add_key(user_id: RowId, request: Request, body: KeyRequest | None = None, who: Principal = Depends(admin)):
    with state_of(request).db.session() as s:
        if s.get(User, user_id) is None:
            raise not_found(f"user {user_id}")
        secret, key = new_key(s, user_id, name=body.name if body else "")
        return {"api_key": secret, "key": store.key_dict(key)}


@router.delete("/keys/{key_id}")
def revoke_key(key_id: RowId, request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.session() as s:
        key = s.get(ApiKey, key_id)
        if key is None:
            raise not_found(f"key {key_id}")
        key.revoked = True
    return {"ok": True}


@router.post("/tasks")
async def add_tasks(body: NewTasks, request: Request, who: Principal = Depends(admin)):
    state = state_of(request)
    prompts = await run_in_threadpool(tasks.parse_prompts, body.jsonl, body.rows)
    generation = {"temperature": body.temperature, "top_p": body.top_p,
                  "max_tokens": body.max_tokens or state.cfg.max_new_tokens}

    def create():
        with state.db.session() as s:
            made = tasks.create_tasks(s, prompts, body.kind, body.k, body.replication, body.generate, generation,
                                      who.user_id)
            return [t.id for t in made], [t.id for t in made if t.status == "generating"]

    ids, pending = await run_in_threadpool(create)
    tasks.schedule_generation(state, pending)
    return {"task_ids": ids, "generating": len(pending)}


@router.get("/tasks")
def list_tasks(request: Request, status: str | None = None, kind: str | None = None, limit: Limit = 100,
               offset: Offset = 0, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        q = select(Task).order_by(Task.id.desc()).limit(min(max(limit, 1), 1000)).offset(max(offset, 0))
        if status:
            q = q.where(Task.status == status)
        if kind:
            q = q.where(Task.kind == kind)
        return {"tasks": [tasks.summary(s, t) for t in s.scalars(q)]}


@router.get("/tasks/{task_id}")
def get_task(task_id: RowId, request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        t = s.get(Task, task_id)
        if t is None:
            raise not_found(f"task {task_id}")
        subs = [{"labeler": name, "submitted_at": iso(a.submitted_at), "result": a.result}
                for name, a in tasks.submissions(s, task_id)]
        return {"task": {**tasks.summary(s, t), "prompt": t.prompt, "answers": t.answers, "submissions": subs}}


@router.delete("/tasks/{task_id}")
def close_task(task_id: RowId, request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.session() as s:
        t = s.get(Task, task_id)
        if t is None:
            raise not_found(f"task {task_id}")
        t.status = "closed"
    return {"ok": True}


@router.get("/agreement")
def agreement(request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        return tasks.agreement(s)


@router.get("/guidelines")
def get_guidelines(request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        return {"markdown": guidelines(s)}


@router.put("/guidelines")
def put_guidelines(body: Guidelines, request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.session() as s:
        store.set_setting(s, GUIDELINES, body.markdown)
    return {"markdown": body.markdown}


@router.get("/export")
def export_all(request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        collected = collect(s)
    return {**collected.files(), **collected.report()}  # report: counts, signals, and unused signals by reason


@router.get("/export/{name}.jsonl")
def export_file(name: Literal["demonstrations", "rankings", "ratings"], request: Request, who: Principal = Depends(admin)):
    with state_of(request).db.reader() as s:
        rows = collect(s).files()[name]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return Response(body, media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}.jsonl"'})
