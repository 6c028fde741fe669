"""The safety layer on the server: ``/v1/moderations``, the guard's filters, and the admin's log.

    kaizen serve runs/ppo/model --safety.moderation_model runs/moderation/model --safety.thresholds violence=0.3

- ``POST /v1/moderations`` takes OpenAI's request (``{"input": str | [str], "model"?}``) and answers
  in its shape (``results[i].flagged / categories / category_scores``).
- The request filter refuses a flagged request (moderation or attack detector) before it is
  rendered, so the engine never sees it; otherwise it applies delimiting and the reminder. The
  response filter replaces a flagged answer (moderation, secret, system prompt) by the refusal.
  Streaming: while any response filter exists the whole answer is held back and sent in one
  piece after the check (filters.py), so no token of a withheld answer reaches the client.
- Every refusal and withheld answer is appended to ``safety.log_file`` (JSONL: time, user, route,
  stage, rule, category, score, an excerpt); ``GET /api/admin/safety`` returns the latest and the
  admin page lists them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from kaizen.safety.config import SafetyConfig
from kaizen.serve.auth import Principal, require
from kaizen.serve.errors import APIError
from kaizen.serve.filters import FilterContext, Refusal

router = APIRouter(tags=["safety"])
EXCERPT_CHARS = 200


class SafetyLog:
    """Append-only JSONL of safety events; the latest ``keep`` are also held in memory."""

    def __init__(self, path: str | Path, keep: int = 500):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.recent: deque = deque(maxlen=keep)
        if self.path.exists():  # what earlier runs of the server logged
            for line in self.path.read_text(encoding="utf-8").splitlines()[-keep:]:
                try:
                    self.recent.append(json.loads(line))
                except json.JSONDecodeError:
                    continue

    def write(self, ctx: FilterContext, verdict, text: str) -> None:
        event = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "user": ctx.user, "route": ctx.route,
                 "model": ctx.model, **verdict.to_dict(), "excerpt": text[:EXCERPT_CHARS]}
        event.pop("allowed")
        with self.lock:
            self.recent.append(event)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(event, ensure_ascii=False) + "\n")


class GuardRequestFilter:
    def __init__(self, guard, log: SafetyLog):
        self.guard, self.log = guard, log

    def __call__(self, messages: list[dict], ctx: FilterContext) -> list[dict]:
        from kaizen.safety.guard import last_user_text

        verdict = self.guard.check_input(messages)
        if not verdict.allowed:
            self.log.write(ctx, verdict, last_user_text(messages))
            raise Refusal(self.guard.cfg.refusal)
        if ctx.route == "completions":  # a raw prompt has no roles to delimit or remind with
            return messages
        return self.guard.prepare(messages)


class GuardResponseFilter:
    def __init__(self, guard, log: SafetyLog):
        self.guard, self.log = guard, log

    def __call__(self, text: str, messages: list[dict], ctx: FilterContext) -> str:
        verdict = self.guard.check_output(text, messages)
        if verdict.allowed:
            return text
        self.log.write(ctx, verdict, text)
        return self.guard.cfg.refusal


class SafetyService:
    """What ``create_app`` adds: the guard's filters (none when nothing is switched on) and the log."""

    def __init__(self, cfg: SafetyConfig, guard=None):
        self.cfg = cfg
        self.log = SafetyLog(cfg.log_file)
        if guard is None and cfg.enabled:
            from kaizen.safety.guard import Guard

            guard = Guard.from_config(cfg)
        self.guard = guard
        if guard is not None:
            guard.thresholds  # a mistyped category fails at start, naming the key, not at the first request
        on = guard is not None
        self.request_filters = (GuardRequestFilter(guard, self.log),) if on else ()
        self.response_filters = (GuardResponseFilter(guard, self.log),) if on else ()


def service_of(request: Request) -> SafetyService:
    return request.app.state.kaizen_safety


class ModerationRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    input: str | list[str] = Field(min_length=1)
    model: str | None = None


@router.post("/v1/moderations")
def moderations(body: ModerationRequest, request: Request, who: Principal = Depends(require("user"))):
    service = service_of(request)
    if service.guard is None or service.guard.moderation is None:
        raise APIError(404, "No moderation model is configured on this server (kaizen serve "
                            "--safety.moderation_model DIR).", param="model", code="model_not_found")
    texts = [body.input] if isinstance(body.input, str) else body.input
    model = Path(service.cfg.moderation_model).name if service.cfg.moderation_model else "kaizen-moderation"
    return {"id": "modr-" + secrets.token_hex(12), "model": body.model or model,
            "results": service.guard.moderate(texts)}


@router.get("/api/admin/safety")
def safety_events(request: Request, limit: int = 100, who: Principal = Depends(require("admin"))):
    service = service_of(request)
    events = list(service.log.recent)[-max(1, min(limit, 500)):][::-1]
    cfg = service.cfg
    return {"enabled": {"moderation": bool(cfg.moderation_model), "detector": bool(cfg.detector_model),
                        "delimit": cfg.delimit, "reminder": cfg.reminder, "secrets": len(cfg.secrets),
                        "guard_system_prompt": cfg.guard_system_prompt},
            "thresholds": service.guard.thresholds if service.guard else {},
            "counts": _counts(service.log.recent), "events": events}


def _counts(events) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        key = f"{e['stage']}:{e['rule']}:{e['category']}"
        out[key] = out.get(key, 0) + 1
    return out
