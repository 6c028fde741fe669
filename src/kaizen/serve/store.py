"""Operations on conversations, messages, ratings and settings, and their JSON views.

Each function takes an open session (``with db.session() as s``); the caller's block commits.
Ownership is checked here: another user's conversation is "not found", never "forbidden",
so ids leak nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from kaizen.serve.db import ApiKey, Conversation, Message, Rating, Setting, User, iso, utcnow
from kaizen.serve.errors import APIError, not_found


def user_dict(u: User) -> dict:
    return {"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled, "created_at": iso(u.created_at)}


def key_dict(k: ApiKey) -> dict:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "kind": k.kind, "created_at": iso(k.created_at),
            "expires_at": iso(k.expires_at), "revoked": k.revoked}


def rating_dict(r: Rating | None) -> dict | None:
    return None if r is None else {"value": r.value, "reason": r.reason, "updated_at": iso(r.updated_at)}


def message_dict(m: Message, rating: Rating | None = None) -> dict:
    return {"id": m.id, "conversation_id": m.conversation_id, "parent_id": m.parent_id, "role": m.role,
            "content": m.content, "created_at": iso(m.created_at), "source": m.source, "model": m.model,
            "finish_reason": m.finish_reason, "chosen": m.chosen, "rating": rating_dict(rating), "meta": m.meta or {}}


def conversation_dict(c: Conversation, messages: list[Message] | None = None,
                      ratings: dict[str, Rating] | None = None) -> dict:
    out = {"id": c.id, "title": c.title, "system_prompt": c.system_prompt, "model": c.model,
           "created_at": iso(c.created_at), "updated_at": iso(c.updated_at)}
    if messages is not None:
        out["messages"] = [message_dict(m, (ratings or {}).get(m.id)) for m in messages]
    return out


# --- conversations and messages --------------------------------------------------------------

def get_conversation(s, conversation_id: str, user_id: int) -> Conversation:
    c = s.get(Conversation, conversation_id)
    if c is None or c.user_id != user_id or c.deleted:
        raise not_found(f"conversation {conversation_id}")
    return c


def list_conversations(s, user_id: int, limit: int, offset: int) -> list[Conversation]:
    q = (select(Conversation).where(Conversation.user_id == user_id, Conversation.deleted.is_(False))
         .order_by(Conversation.updated_at.desc(), Conversation.id).limit(limit).offset(offset))
    return list(s.scalars(q))


def messages_of(s, conversation_id: str) -> list[Message]:
    q = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.created_at, Message.id)
    return list(s.scalars(q))


def ratings_of(s, message_ids: list[str], user_id: int) -> dict[str, Rating]:
    if not message_ids:
        return {}
    q = select(Rating).where(Rating.message_id.in_(message_ids), Rating.user_id == user_id)
    return {r.message_id: r for r in s.scalars(q)}


def full_conversation(s, c: Conversation) -> dict:
    messages = messages_of(s, c.id)
    return conversation_dict(c, messages, ratings_of(s, [m.id for m in messages], c.user_id))


def get_message(s, message_id: str, user_id: int) -> Message:
    m = s.get(Message, message_id)
    c = s.get(Conversation, m.conversation_id) if m is not None else None
    if c is None or c.user_id != user_id or c.deleted:  # one answer either way: the error names no conversation
        raise not_found(f"message {message_id}")
    return m


def path_to(s, message: Message | None) -> list[Message]:
    """The branch from the root to ``message`` (inclusive): what the model sees."""
    path = []
    while message is not None:
        path.append(message)
        message = s.get(Message, message.parent_id) if message.parent_id else None
    return path[::-1]


def prompt_of(c: Conversation, path: list[Message]) -> list[dict]:
    system = [{"role": "system", "content": c.system_prompt}] if c.system_prompt else []
    return system + [{"role": m.role, "content": m.content} for m in path]


def add_message(s, c: Conversation, parent_id: str | None, role: str, content: str, source: str,
                model: str | None = None, finish_reason: str | None = None, message_id: str | None = None,
                meta: dict | None = None) -> Message:
    """Append a turn under ``parent_id``; turns alternate user / assistant from a user turn at the root.

    ``meta``: what came with the turn beside its text, e.g. ``{"kaizen": ...}``, a strategy's reasoning.
    """
    parent = None
    if parent_id is not None:
        parent = s.get(Message, parent_id)
        if parent is None or parent.conversation_id != c.id:
            raise APIError(400, f"parent_id {parent_id} is not a message of this conversation", param="parent_id")
    expected = "user" if parent is None or parent.role == "assistant" else "assistant"
    if role != expected:
        where = "at the start" if parent is None else f"after a {parent.role} message"
        raise APIError(400, f"a {role} message cannot come {where}; expected {expected}", param="role")
    now = utcnow()
    m = Message(conversation_id=c.id, parent_id=parent_id, role=role, content=content, source=source, model=model,
                finish_reason=finish_reason, chosen=False, created_at=now, meta=meta)
    if message_id:
        m.id = message_id
    s.add(m)
    c.updated_at = now
    if not c.title and role == "user":
        c.title = content.strip().splitlines()[0][:80] if content.strip() else ""
    s.flush()
    return m


def set_rating(s, m: Message, user_id: int, value: int, reason: str | None) -> Rating:
    if m.role != "assistant":
        raise APIError(400, "only assistant messages can be rated", param="message_id")
    r = s.scalar(select(Rating).where(Rating.message_id == m.id, Rating.user_id == user_id))
    now = utcnow()
    if r is None:
        r = Rating(message_id=m.id, user_id=user_id, value=value, reason=reason, created_at=now, updated_at=now)
        s.add(r)
    else:
        r.value, r.reason, r.updated_at = value, reason, now
    s.flush()
    return r


def clear_rating(s, m: Message, user_id: int) -> None:
    r = s.scalar(select(Rating).where(Rating.message_id == m.id, Rating.user_id == user_id))
    if r is not None:
        s.delete(r)


def choose(s, m: Message) -> None:
    """Mark ``m`` as the alternative kept among its siblings."""
    if m.role != "assistant":
        raise APIError(400, "only an assistant answer can be chosen", param="message_id")
    siblings = s.scalars(select(Message).where(Message.conversation_id == m.conversation_id,
                                               Message.parent_id == m.parent_id, Message.role == "assistant"))
    for sib in siblings:
        sib.chosen = sib.id == m.id


# --- settings ----------------------------------------------------------------------------------

def get_setting(s, key: str, default: str) -> str:
    row = s.get(Setting, key)
    return default if row is None else row.value


def set_setting(s, key: str, value: str) -> None:
    row = s.get(Setting, key)
    if row is None:
        s.add(Setting(key=key, value=value))
    else:
        row.value = value
