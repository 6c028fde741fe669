"""Training records in the defended prompt format, so a policy served behind the defences has seen it.

    demos = defended_copies(demos, share=0.25, seed=0)       # Demonstrations: + a defended copy of 25%
    rankings = defended_copies(rankings, share=0.5, seed=0, replace=True)   # Rankings: half re-rendered

With ``delimit`` and ``reminder`` on, the model no longer sees the user's words as they were typed:
they are quoted in ``\"\"\"`` with delimiter look-alikes escaped, the system turn gains the data policy,
and a second system turn follows the user's. A policy trained only on plain conversations meets
that format first in production. Measured (docs/safety.md, seed 5): the safety round's policy
answered every benign question under it with one fragment ("The people of spring, is used to make
dye,"), which output moderation withheld, so benign false refusals with all defences were 11.7%
against 0% undefended.

The rendering is ``Guard.prepare``'s own (``defences.delimit`` then ``defences.remind``), so the
training format is exactly the served one. The answers are unchanged: the defended prompt asks for
the same answer as the plain one. A conversation without a system turn gets one of
``APP_SYSTEMS`` (a deployed app has one, and the reminder repeats it); these are written apart
from the red team's system prompts.
"""

from __future__ import annotations

import random
from dataclasses import replace as dc_replace
from typing import TypeVar

from kaizen.data.records import Demonstration, Message, Ranking
from kaizen.safety import defences

APP_SYSTEMS = ("You are a helpful assistant. Keep your answers short.",
               "You answer visitors' questions about the land and its towns.",
               "You are the help desk of a small travel office. Be brief and polite.",
               "You are a careful assistant for a village library.")

R = TypeVar("R", Demonstration, Ranking)


def defended_messages(messages: list[Message], rng: random.Random, system_share: float = 0.7) -> list[Message]:
    """``messages`` (a prompt, or a conversation whose assistant turns stay as they are) as the model sees
    them with delimiting and the reminder on; without a system turn, one of ``APP_SYSTEMS`` is added
    first with probability ``system_share``."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last_user is None:
        return list(messages)
    # the defences wrap the prompt up to the user's last turn; the answers after it stay as they are
    prompt, rest = messages[:last_user + 1], messages[last_user + 1:]
    turns = [{"role": m.role, "content": m.content, "weight": m.weight} for m in prompt]  # delimit copies keys
    if not any(t["role"] == "system" for t in turns) and rng.random() < system_share:
        turns.insert(0, {"role": "system", "content": rng.choice(APP_SYSTEMS)})
    rendered = defences.remind(defences.delimit(turns))
    return [Message(t["role"], t["content"], t.get("weight")) for t in rendered] + list(rest)


def defended(record: R, rng: random.Random) -> R:
    """``record`` with its prompt in the defended format (a Demonstration's answer, a Ranking's answers kept)."""
    field = "prompt" if isinstance(record, Ranking) else "messages"
    return dc_replace(record, **{field: defended_messages(list(getattr(record, field)), rng)},
                      id=f"{record.id}-defended" if record.id else None, meta={**record.meta, "defended": True})


def defended_copies(records: list[R], share: float, seed: int = 0, replace: bool = False) -> list[R]:
    """``records`` with a defended version of a random ``share`` of them: added after them, or (``replace``)
    in their place."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"defended share must be in [0, 1], got {share}")
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(records)), round(share * len(records))))
    if replace:
        return [defended(r, rng) if i in chosen else r for i, r in enumerate(records)]
    return list(records) + [defended(records[i], rng) for i in sorted(chosen)]
