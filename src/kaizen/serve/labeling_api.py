"""Labelers' API: claim the next task, submit a ranking or a demonstration, skip, read the guidelines."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from kaizen.data.records import METADATA_FLAGS
from kaizen.serve import compare, store, tasks
from kaizen.serve.auth import Principal, require
from kaizen.serve.db import Assignment, Task, iso
from kaizen.serve.edge import Limit, RowId
from kaizen.serve.errors import APIError
from kaizen.serve.guidelines import DEFAULT_GUIDELINES
from kaizen.serve.runtime import state_of

router = APIRouter(prefix="/api/labeling", tags=["labeling"])
STRICT = ConfigDict(strict=True, extra="forbid")
labeler = require("labeler")
GUIDELINES = "labeling_guidelines"


class JudgementIn(BaseModel):
    model_config = STRICT
    helpful: int | None = Field(None, ge=1, le=7)
    truthful: bool | None = None
    harmless: bool | None = None
    flags: list[str] = []

    @field_validator("flags")
    @classmethod
    def known_flags(cls, flags: list[str]) -> list[str]:
        unknown = sorted(set(flags) - set(METADATA_FLAGS))
        if unknown:
            raise ValueError(f"unknown flags {unknown}; valid: {list(METADATA_FLAGS)}")
        return flags


class Submission(BaseModel):
    model_config = STRICT
    ranks: list[int] | None = None
    all_bad: bool = False
    judgements: list[JudgementIn] | None = None
    answer: str | None = None
    choice: Literal["A", "B", "tie"] | None = None  # a compare task: the better answer as shown, or a tie
    comment: str = Field("", max_length=4000)


def guidelines(s) -> str:
    return store.get_setting(s, GUIDELINES, DEFAULT_GUIDELINES)


def task_view(t: Task, a: Assignment, text: str) -> dict:
    return {"id": t.id, "kind": t.kind, "prompt": t.prompt, "answers": t.answers, "k": t.k, "guidelines": text,
            "flags": list(METADATA_FLAGS), "expires_at": iso(a.expires_at)}


def validate(t: Task, body: Submission) -> dict:
    """The stored result; checks the submission against its task."""
    if t.kind == "demonstration":
        if not body.answer or not body.answer.strip():
            raise APIError(400, "a demonstration needs a non-empty 'answer'", param="answer")
        return {"answer": body.answer, "comment": body.comment}
    if t.kind == compare.KIND:
        return compare.result(body.choice, body.comment)
    ranks = body.ranks if body.ranks is not None else ([1] * t.k if body.all_bad else None)
    if ranks is None:
        raise APIError(400, "a ranking needs 'ranks' (or all_bad: true)", param="ranks")
    if len(ranks) != t.k or not all(1 <= r <= t.k for r in ranks):
        raise APIError(400, f"'ranks' must have {t.k} entries, each 1..{t.k} (1 = best, equal = tie)", param="ranks")
    if body.judgements is not None and len(body.judgements) != t.k:
        raise APIError(400, f"'judgements' must have one entry per answer ({t.k})", param="judgements")
    judgements = [j.model_dump() for j in body.judgements] if body.judgements is not None else None
    return {"ranks": ranks, "all_bad": body.all_bad, "judgements": judgements, "comment": body.comment}


@router.get("/next")
def next_task(request: Request, kind: Literal["rank", "demonstration", "compare"] | None = None, who: Principal = Depends(labeler)):
    state = state_of(request)
    with state.db.session() as s:
        claimed = tasks.claim_next(s, who.user_id, kind, state.cfg.claim_minutes)
        return {"task": task_view(*claimed, guidelines(s)) if claimed else None}


@router.post("/tasks/{task_id}/submit")
def submit(task_id: RowId, body: Submission, request: Request, who: Principal = Depends(labeler)):
    with state_of(request).db.session() as s:
        task = s.get(Task, task_id)
        if task is None:
            raise APIError(404, f"task {task_id} not found")
        a = tasks.submit(s, task_id, who.user_id, validate(task, body))
        return {"ok": True, "submission_id": a.id}


@router.post("/tasks/{task_id}/skip")
def skip(task_id: RowId, request: Request, who: Principal = Depends(labeler)):
    with state_of(request).db.session() as s:
        tasks.skip(s, task_id, who.user_id)
    return {"ok": True}


@router.get("/guidelines")
def get_guidelines(request: Request, who: Principal = Depends(labeler)):
    with state_of(request).db.reader() as s:
        return {"markdown": guidelines(s)}


@router.get("/history")
def history(request: Request, limit: Limit = 50, who: Principal = Depends(labeler)):
    with state_of(request).db.reader() as s:
        q = (select(Assignment, Task.kind).join(Task, Task.id == Assignment.task_id)
             .where(Assignment.user_id == who.user_id, Assignment.status == "submitted")
             .order_by(Assignment.submitted_at.desc()).limit(min(max(limit, 1), 500)))
        return {"submissions": [{"task_id": a.task_id, "kind": kind, "submitted_at": iso(a.submitted_at), "result": a.result}
                                for a, kind in s.execute(q)]}
