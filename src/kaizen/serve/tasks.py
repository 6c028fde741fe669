"""Labeling tasks (InstructGPT's demonstrations and K-way rankings): creation, claims, agreement.

An admin loads prompts from JSONL; each prompt becomes a task that up to ``replication``
labelers answer. Rank tasks without answers get K samples from the served model first
(status ``generating``, resumed after a restart). The admin's agreement rate is the share of
answer pairs two labelers order the same way on the same item (InstructGPT §3.4 reports about
73% between its labelers).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from datetime import timedelta

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from kaizen.data.records import MAX_ANSWERS, ROLES
from kaizen.serve import compare
from kaizen.serve.db import Assignment, Task, User, iso, utcnow
from kaizen.serve.edge import bad_unicode
from kaizen.serve.engine import SamplingParams
from kaizen.serve.errors import APIError, not_found
from kaizen.serve.runtime import chat_prompt, collect

log = logging.getLogger("kaizen.serve")
MIN_RANK_K = 4  # InstructGPT shows labelers K = 4..9 answers to rank


def parse_prompts(jsonl: str | None, rows: list | None) -> list[tuple[list[dict], list[str] | None]]:
    """(prompt messages, answers or None) per row; a bad row is a 400 naming its line."""
    if (jsonl is None) == (rows is None):
        raise APIError(400, "give exactly one of 'jsonl' (the file's text) or 'rows'", param="jsonl")
    if jsonl is not None:
        rows = []
        for n, line in enumerate(jsonl.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise APIError(400, f"line {n}: malformed JSON ({e.msg})", param="jsonl") from None
    else:
        rows = list(enumerate(rows, start=1))
    out = []
    for n, row in rows:
        where = f"line {n}" if jsonl is not None else f"rows[{n - 1}]"
        param = "jsonl" if jsonl is not None else "rows"
        if not isinstance(row, dict):
            raise APIError(400, f"{where}: expected a JSON object", param=param)
        if (bad := bad_unicode(row)) is not None:  # a "\ud800" escape inside the file's text
            raise APIError(400, f"{where}: '{bad}' holds a lone UTF-16 surrogate (not valid Unicode)", param=param,
                           code="invalid_unicode")
        prompt = row.get("prompt", row.get("messages"))
        if isinstance(prompt, str) and prompt.strip():
            prompt = [{"role": "user", "content": prompt}]
        ok = (isinstance(prompt, list) and prompt and all(isinstance(m, dict) and m.get("role") in ROLES
                                                          and isinstance(m.get("content"), str) for m in prompt)
              and prompt[-1]["role"] == "user")
        if not ok:
            raise APIError(400, f"{where}: needs 'prompt' (text or messages) or 'messages' ending with a user turn")
        answers = row.get("answers")
        if answers is not None and not (isinstance(answers, list) and all(isinstance(a, str) for a in answers)):
            raise APIError(400, f"{where}: 'answers' must be a list of strings")
        out.append(([{"role": m["role"], "content": m["content"]} for m in prompt], answers))
    if not out:
        raise APIError(400, "no prompts given", param="jsonl")
    return out


def create_tasks(s, prompts, kind: str, k: int, replication: int, generate: bool, generation: dict,
                 created_by: int) -> list[Task]:
    tasks = []
    for i, (prompt, answers) in enumerate(prompts):
        if kind == compare.KIND:
            compare.check_answers(i, answers)
        if kind == "rank" and answers is not None and not MIN_RANK_K <= len(answers) <= MAX_ANSWERS:
            raise APIError(400, f"row {i + 1}: a rank task needs {MIN_RANK_K}..{MAX_ANSWERS} answers, got {len(answers)}")
        if kind == "rank" and answers is None and not generate:
            raise APIError(400, f"row {i + 1}: no 'answers' and generate is false", param="generate")
        status = "generating" if kind == "rank" and answers is None else "open"
        with_answers = kind in ("rank", compare.KIND)
        task = Task(kind=kind, prompt=prompt, answers=answers if with_answers else None,
                    k=len(answers) if answers and with_answers else (k if kind == "rank" else 0),
                    replication=replication, status=status, generation=generation, created_by=created_by,
                    created_at=utcnow())
        s.add(task)
        tasks.append(task)
    s.flush()
    return tasks


async def fill_answers(state, task_id: int) -> None:
    """Sample the task's K answers with the served model, then open it to labelers."""

    def load():
        with state.db.session() as s:
            t = s.get(Task, task_id)
            return (t.prompt, t.k, dict(t.generation or {})) if t and t.status == "generating" else None

    def finish(answers, error=None, model=None):
        with state.db.session() as s:
            t = s.get(Task, task_id)
            t.answers, t.status, t.error = answers, ("failed" if error else "open"), error
            if model is not None:  # lineage: exported rankings name the model that wrote the answers
                t.generation = {**(t.generation or {}), "model": model}

    job = await run_in_threadpool(load)
    if job is None:
        return
    prompt, k, gen = job
    try:
        ids = await run_in_threadpool(chat_prompt, state, prompt)
        params = SamplingParams(max_tokens=gen.get("max_tokens", state.cfg.max_new_tokens),
                                temperature=gen.get("temperature", 1.0), top_p=gen.get("top_p", 1.0))
        outs = await asyncio.gather(*[collect(state, ids, params) for _ in range(k)])
        await run_in_threadpool(finish, [o.text for o in outs], None, state.engine.model_name)
    except Exception as e:  # a prompt the model cannot take fails its task, visibly, not the server
        log.warning("task %s: answer generation failed: %s", task_id, e)
        await run_in_threadpool(finish, None, str(getattr(e, "message", e)))


def schedule_generation(state, task_ids: list[int]) -> None:
    for tid in task_ids:
        t = asyncio.get_running_loop().create_task(fill_answers(state, tid))
        state.background.add(t)
        t.add_done_callback(state.background.discard)


def _active(now):
    return (Assignment.status == "submitted") | ((Assignment.status == "claimed") & (Assignment.expires_at > now))


def _taken(s, task_id: int, now, but_user: int | None = None) -> int:
    """Labelers holding a place on the task: submitted, or claimed and not expired."""
    q = select(func.count()).select_from(Assignment).where(Assignment.task_id == task_id, _active(now))
    if but_user is not None:
        q = q.where(Assignment.user_id != but_user)
    return s.scalar(q)


def _lock(s, task_id: int) -> Task | None:
    """The task row, locked until the transaction ends (PostgreSQL: SELECT ... FOR UPDATE), so claims and
    submissions on one task are counted one at a time; SQLite's BEGIN IMMEDIATE already serialises writers."""
    return s.scalar(select(Task).where(Task.id == task_id).with_for_update().execution_options(populate_existing=True))


def claim_next(s, user_id: int, kind: str | None, minutes: float) -> tuple[Task, Assignment] | None:
    """The caller's open claim, else a claim on the oldest task that still needs labelers."""
    now = utcnow()
    mine = select(Assignment.id, Task.id).join(Task, Task.id == Assignment.task_id).where(
        Assignment.user_id == user_id, Assignment.status == "claimed", Task.status == "open")
    if kind:
        mine = mine.where(Task.kind == kind)
    for a_id, t_id in s.execute(mine.order_by(Assignment.id)).all():
        t = _lock(s, t_id)
        if t.status == "open" and _taken(s, t.id, now, but_user=user_id) < t.replication:
            a = s.get(Assignment, a_id)
            a.expires_at = now + timedelta(minutes=minutes)
            return t, a
    taken = select(func.count()).select_from(Assignment).where(Assignment.task_id == Task.id, _active(now)).scalar_subquery()
    seen = select(Assignment.id).where(Assignment.task_id == Task.id, Assignment.user_id == user_id).exists()
    q = select(Task.id).where(Task.status == "open", ~seen, taken < Task.replication)
    if kind:
        q = q.where(Task.kind == kind)
    for t_id in s.scalars(q.order_by(Task.id).limit(20)).all():
        task = _lock(s, t_id)  # counted again under the lock: another labeler may have taken the last place
        if task.status != "open" or _taken(s, task.id, now) >= task.replication:
            continue
        a = Assignment(task_id=task.id, user_id=user_id, status="claimed", claimed_at=now,
                       expires_at=now + timedelta(minutes=minutes))
        s.add(a)
        s.flush()
        return task, a
    return None


def _assignment(s, task_id: int, user_id: int) -> tuple[Task, Assignment]:
    task = _lock(s, task_id)
    a = s.scalar(select(Assignment).where(Assignment.task_id == task_id, Assignment.user_id == user_id))
    if task is None or a is None:
        raise not_found(f"task {task_id} (claim it with GET /api/labeling/next)")
    if a.status == "submitted":
        raise APIError(409, f"you already submitted task {task_id}")
    return task, a


def submit(s, task_id: int, user_id: int, result: dict) -> Assignment:
    """Store a result; only a live claim on an open task with a free place may submit (replication is never exceeded)."""
    task, a = _assignment(s, task_id, user_id)
    now = utcnow()
    if task.status != "open":
        raise APIError(409, f"task {task_id} is {task.status}; it takes no more submissions", code="task_not_open")
    if a.status != "claimed":
        raise APIError(409, f"you {a.status} task {task_id}; it takes no submission from you", code="claim_not_active")
    if a.expires_at <= now:
        raise APIError(409, f"your claim on task {task_id} expired; GET /api/labeling/next claims it again if a place "
                            "is free", code="claim_expired")
    others = s.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.task_id == task_id, Assignment.user_id != user_id, Assignment.status == "submitted"))
    if others >= task.replication:  # claims are counted under the lock; this holds even if one slipped through
        raise APIError(409, f"task {task_id} has all its {task.replication} labelers", code="task_full")
    a.status, a.result, a.submitted_at = "submitted", result, now
    s.flush()
    done = s.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.task_id == task_id, Assignment.status == "submitted"))
    if done >= task.replication:
        task.status = "done"
    return a


def skip(s, task_id: int, user_id: int) -> None:
    _, a = _assignment(s, task_id, user_id)
    a.status = "skipped"


def summary(s, t: Task) -> dict:
    now = utcnow()
    counts = dict(s.execute(select(Assignment.status, func.count()).where(Assignment.task_id == t.id, _active(now))
                            .group_by(Assignment.status)).all())
    preview = t.prompt[-1]["content"] if t.prompt else ""
    return {"id": t.id, "kind": t.kind, "status": t.status, "k": t.k, "replication": t.replication,
            "submitted": counts.get("submitted", 0), "claimed": counts.get("claimed", 0),
            "prompt_preview": preview[:200], "created_at": iso(t.created_at), "error": t.error}


def submissions(s, task_id: int) -> list[tuple[str, Assignment]]:
    q = (select(User.name, Assignment).join(User, User.id == Assignment.user_id)
         .where(Assignment.task_id == task_id, Assignment.status == "submitted").order_by(Assignment.submitted_at))
    return [(name, a) for name, a in s.execute(q)]


def pairwise_agreement(a: list[int], b: list[int]) -> tuple[int, int]:
    """(answer pairs ordered the same way by both rankings, answer pairs): ties count as an order."""
    sign = lambda x: (x > 0) - (x < 0)  # noqa: E731
    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum(sign(a[i] - a[j]) == sign(b[i] - b[j]) for i, j in pairs), len(pairs)


def agreement(s) -> dict:
    """Inter-labeler agreement over every rank item with two or more rankings."""
    q = (select(Assignment.task_id, User.name, Assignment.result).join(User, User.id == Assignment.user_id)
         .join(Task, Task.id == Assignment.task_id)
         .where(Task.kind == "rank", Assignment.status == "submitted").order_by(Assignment.task_id, User.name))
    by_task: dict[int, list[tuple[str, list[int]]]] = {}
    for task_id, name, result in s.execute(q):
        if result and result.get("ranks"):
            by_task.setdefault(task_id, []).append((name, result["ranks"]))
    per_labeler: dict[str, list[int]] = {}
    tasks, agree_all, total_all = [], 0, 0
    for task_id, rankings in by_task.items():
        if len(rankings) < 2:
            continue
        agree_t = total_t = 0
        for (na, ra), (nb, rb) in itertools.combinations(rankings, 2):
            agree, total = pairwise_agreement(ra, rb)
            agree_t, total_t = agree_t + agree, total_t + total
            for name in (na, nb):
                acc = per_labeler.setdefault(name, [0, 0])
                acc[0], acc[1] = acc[0] + agree, acc[1] + total
        agree_all, total_all = agree_all + agree_t, total_all + total_t
        tasks.append({"task_id": task_id, "agreement": agree_t / total_t if total_t else None,
                      "labelers": [n for n, _ in rankings]})
    return {"overall": agree_all / total_all if total_all else None, "items": len(tasks), "comparisons": total_all,
            "labelers": [{"name": n, "agreement": a / t if t else None, "comparisons": t}
                         for n, (a, t) in sorted(per_labeler.items())],
            "tasks": tasks}
