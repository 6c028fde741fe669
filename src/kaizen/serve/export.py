"""``kaizen export``: what the service collected, as Kaizen training files.

    kaizen export --db_url sqlite:///kaizen-serve.db --out feedback/
    kaizen sft --data feedback/demonstrations.jsonl ...   |   kaizen rm --data feedback/rankings.jsonl ...

A chat becomes training data only through what its user endorsed (``signals`` below):

- ``demonstrations.jsonl``: one ``{"messages", "id", "meta"}`` row per endorsed answer: one the user
  wrote or edited, thumbed up, or kept ("keep this one" among regenerated alternatives). The row
  is the branch up to that answer; every earlier assistant turn carries ``"weight": 0`` (OpenAI's
  fine-tuning format: context, no loss), so SFT trains on the endorsed answer alone. A thumbed-down
  answer is never a target. Labelers' demonstrations are rows too.
- ``rankings.jsonl``: Kaizen's K-way rankings (``Ranking.to_dict``): every labeler's ranking, and,
  per user message of a chat, the alternatives the user judged, best first: kept > written by the
  user > thumbed up > no signal > thumbed down. Answers with no signal are ranked only beside a
  comparative signal (a kept answer, or a correction the user wrote: both say "better than the
  others"); a thumb alone says nothing about an unrated sibling. So a thumbed-down answer is the
  rejected side of a pair whenever a better answer to the same context exists, "keep this one" on
  one alternative and a thumb up on another give a ranking, and a correction gives a pair.
- ``ratings.jsonl``: thumbs that are in no ranking: ``{"prompt", "answer", "rating", "reason",
  "user", "model", "id"}`` (e.g. a thumb down with no better answer beside it).
- ``export.json``: rows per file, signals seen, and every signal that became no row, by reason
  (also printed). Continuing a chat from an answer is not a signal: the UI shows the newest
  alternative, so people continue from whatever is on screen.

Every chat row names, in ``meta``, its conversation, its messages and the model of each answer
(lineage): ``meta.models`` lists the answers' models (``null`` for an answer a person wrote), and a
demonstration's ``meta.context_models`` the models whose answers came before it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from kaizen.config import ConfigError, arg, parse_config
from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import (MAX_ANSWERS, MIN_ANSWERS, Demonstration, Judgement, Message, Ranking,
                                 conversation_from_dicts)
from kaizen.serve import compare, store
from kaizen.serve.db import Assignment, Conversation, Database, Rating, Task, User, utcnow
from kaizen.serve.db import Message as StoredMessage

# Rank levels of a chat's alternatives (lower is better); see the module docstring.
KEPT, WRITTEN, THUMB_UP, NO_SIGNAL, THUMB_DOWN = 1, 2, 3, 4, 5
LEVEL_NAMES = {KEPT: "kept", WRITTEN: "written", THUMB_UP: "thumbs_up", NO_SIGNAL: "no_signal",
               THUMB_DOWN: "thumbs_down"}
# Answers that are not what the model (or the user) would say as a whole answer.
INCOMPLETE = {"cancelled": "the user stopped it mid-answer", "content_filter": "a filter's refusal, not the model's"}
TRUNCATED = "cut at max_tokens"


@dataclass(frozen=True)
class ExportConfig:
    """Turn collected chat feedback, rankings and demonstrations into Kaizen training files."""

    db_url: str = arg("sqlite:///kaizen-serve.db", "The service's database (kaizen serve --db_url).")
    out: str = arg("feedback", "Directory for demonstrations.jsonl, rankings.jsonl, ratings.jsonl.")
    truncated_targets: bool = arg(True, "Keep endorsed answers cut at the server's max_tokens as SFT targets (the "
                                        "user saw and endorsed them; false: they only rank, so the model never "
                                        "learns to stop mid-sentence).")


@dataclass
class Collected:
    demonstrations: list[Demonstration] = field(default_factory=list)
    rankings: list[Ranking] = field(default_factory=list)
    ratings: list[dict] = field(default_factory=list)
    signals: Counter = field(default_factory=Counter)  # kind -> how many were given
    skipped: Counter = field(default_factory=Counter)  # "kind: why it is in no row" -> count
    not_targets: Counter = field(default_factory=Counter)  # "kind: why the endorsed answer is no SFT target"
    truncated_targets: int = 0  # demonstrations whose answer was cut at max_tokens

    def files(self) -> dict[str, list[dict]]:
        return {"demonstrations": [d.to_dict() for d in self.demonstrations],
                "rankings": [r.to_dict() for r in self.rankings], "ratings": list(self.ratings)}

    def report(self) -> dict:
        return {"counts": {"demonstrations": len(self.demonstrations), "rankings": len(self.rankings),
                           "ratings": len(self.ratings)},
                "signals": dict(sorted(self.signals.items())), "skipped": dict(sorted(self.skipped.items())),
                "not_targets": dict(sorted(self.not_targets.items())), "truncated_targets": self.truncated_targets}


def collect(s, truncated_targets: bool = True) -> Collected:
    out = Collected()
    _from_labeling(s, out)
    names = dict(s.execute(select(User.id, User.name)).all())
    for c in s.scalars(select(Conversation).order_by(Conversation.created_at)):
        if c.deleted:
            _count_deleted(s, c, out)
            continue
        _from_conversation(s, c, names.get(c.user_id, "unknown"), out, truncated_targets)
    return out


def _from_labeling(s, out: Collected) -> None:
    q = (select(Task, User.name, Assignment).join(Assignment, Assignment.task_id == Task.id)
         .join(User, User.id == Assignment.user_id).where(Assignment.status == "submitted")
         .order_by(Task.id, Assignment.submitted_at))
    for task, name, a in s.execute(q):
        prompt, res, rid = conversation_from_dicts(task.prompt), a.result or {}, f"task{task.id}:{name}"
        out.signals[f"labeling_{task.kind}"] += 1
        meta = {"source": "labeling", "task_id": task.id}
        if (task.generation or {}).get("model"):
            meta["model"] = task.generation["model"]  # the served model that wrote the task's answers
        if task.kind == "demonstration":
            out.demonstrations.append(Demonstration(_as_context(prompt) + [Message("assistant", res["answer"], 1)], id=rid,
                                                    meta={"source": "labeling", "task_id": task.id, "labeler": name}))
            continue
        if task.kind == "compare" and not compare.is_strict(res):
            out.skipped["labeling_compare: judged equal, so no preferred answer"] += 1
            continue
        if len(set(res.get("ranks") or ())) < 2:  # `kaizen data validate` rejects a ranking without a strict pair
            out.skipped["labeling_rank: all_bad or all ranks equal, so no preferred answer"] += 1
            continue
        # an empty answer (the model stopped at once) is no valid row: it leaves with its rank, as in chats
        keep = [i for i, a in enumerate(task.answers) if a.strip()]
        ranks = [res["ranks"][i] for i in keep]
        if len(keep) < len(task.answers):
            out.skipped["labeling_rank: empty answers left out of their ranking"] += len(task.answers) - len(keep)
        if len(keep) < MIN_ANSWERS or len(set(ranks)) < 2:
            out.skipped["labeling_rank: no preferred answer left without the empty answers"] += 1
            continue
        judgements = None
        if res.get("judgements"):
            judgements = [Judgement(j.get("helpful"), j.get("truthful"), j.get("harmless"), tuple(j.get("flags") or ()))
                          for j in (res["judgements"][i] for i in keep)]
        if res.get("comment"):
            meta["comment"] = res["comment"]
        out.rankings.append(Ranking(prompt, [task.answers[i] for i in keep], ranks, labeler=name,
                                    judgements=judgements, all_bad=bool(res.get("all_bad")), id=rid, meta=meta))


def _as_context(conv: list[Message]) -> list[Message]:
    """Assistant turns before the target are context: weight 0, so SFT takes no loss on them."""
    return [Message(m.role, m.content, 0) if m.role == "assistant" else m for m in conv]


def _signals(m: StoredMessage, rating: Rating | None) -> list[str]:
    kinds = ["written"] if m.role == "assistant" and m.source == "human" else []
    if m.chosen:
        kinds.append("kept")
    if rating is not None:
        kinds.append("thumbs_up" if rating.value > 0 else "thumbs_down")
    return kinds


def _count_deleted(s, c: Conversation, out: Collected) -> None:
    messages = store.messages_of(s, c.id)
    ratings = store.ratings_of(s, [m.id for m in messages], c.user_id)
    for m in messages:
        for kind in _signals(m, ratings.get(m.id)):
            out.signals[kind] += 1
            out.skipped[f"{kind}: the user deleted the conversation"] += 1


def _level(m: StoredMessage, rating: Rating | None) -> int:
    if rating is not None and rating.value < 0:
        return THUMB_DOWN  # a thumb down outweighs a "keep": the user said this answer is bad
    if m.chosen:
        return KEPT
    if m.source == "human":
        return WRITTEN
    return THUMB_UP if rating is not None else NO_SIGNAL


def _from_conversation(s, c: Conversation, owner: str, out: Collected, truncated_targets: bool = True) -> None:
    messages = store.messages_of(s, c.id)
    by_id = {m.id: m for m in messages}
    ratings = store.ratings_of(s, [m.id for m in messages], c.user_id)
    children: dict[str | None, list[StoredMessage]] = defaultdict(list)
    for m in messages:
        children[m.parent_id].append(m)

    def branch(parent_id: str) -> list[StoredMessage]:
        """The turns from the root down to ``parent_id``."""
        path, m = [], by_id.get(parent_id)
        while m is not None:
            path.append(m)
            m = by_id.get(m.parent_id) if m.parent_id else None
        return path[::-1]

    def context(parent_id: str) -> list[dict] | None:
        """The branch up to ``parent_id`` as prompt dicts; None if a turn on it is empty (no valid row)."""
        turns = store.prompt_of(c, branch(parent_id))
        return turns if all(t["content"].strip() for t in turns) else None

    def problem(m: StoredMessage) -> str | None:
        """Why ``m`` cannot stand as a whole answer to its context, if it cannot."""
        if m.finish_reason in INCOMPLETE:
            return INCOMPLETE[m.finish_reason]
        if not m.content.strip():
            return "the answer is empty"
        return "a turn before it is empty" if context(m.parent_id) is None else None

    used: dict[str, set[str]] = defaultdict(set)  # message id -> its signals that made a row
    ranked: set[str] = set()  # ids of the answers in a ranking (their thumbs are not ratings rows)
    for m in messages:
        kinds = _signals(m, ratings.get(m.id))
        out.signals.update(kinds)
        endorsed = [k for k in kinds if k != "thumbs_down"]
        if not endorsed:
            continue
        why = "it is also thumbed down" if "thumbs_down" in kinds else problem(m)
        if why is None and m.finish_reason == "length":
            why = None if truncated_targets else TRUNCATED
            out.truncated_targets += truncated_targets
        if why is not None:
            out.not_targets.update(f"{k}: {why}" for k in endorsed)
            continue
        turns = _as_context(conversation_from_dicts(context(m.parent_id)))
        meta = {"source": "chat", "conversation_id": c.id, "message_ids": [m.id], "user": owner,
                "signals": endorsed, "models": [m.model]}
        if earlier := list(dict.fromkeys(t.model for t in branch(m.parent_id) if t.model)):
            meta["context_models"] = earlier  # who wrote the answers the user was reacting to
        out.demonstrations.append(Demonstration(turns + [Message("assistant", m.content, 1)], id=f"chat:{m.id}", meta=meta))
        used[m.id].update(endorsed)

    for parent_id, kids in children.items():
        alts = [m for m in kids if m.role == "assistant" and problem(m) is None]
        levels = {m.id: _level(m, ratings.get(m.id)) for m in alts}
        if not any(lv in (KEPT, WRITTEN) for lv in levels.values()):
            alts = [m for m in alts if levels[m.id] != NO_SIGNAL]  # a thumb alone ranks nothing beside it
        alts = sorted(alts, key=lambda m: levels[m.id])[:MAX_ANSWERS]
        if len(alts) < MIN_ANSWERS or len({levels[m.id] for m in alts}) < 2:
            continue
        dense = {lv: i + 1 for i, lv in enumerate(sorted({levels[m.id] for m in alts}))}
        out.rankings.append(Ranking(
            conversation_from_dicts(context(parent_id)), [m.content for m in alts],
            [dense[levels[m.id]] for m in alts], labeler=owner, id=f"chat:{parent_id}",
            meta={"source": "chat", "conversation_id": c.id, "message_ids": [m.id for m in alts],
                  "signals": [LEVEL_NAMES[levels[m.id]] for m in alts], "models": [m.model for m in alts]}))
        for m in alts:  # a thumb down outranks a "keep" on the same answer: only the thumb is used then
            kinds = _signals(m, ratings.get(m.id))
            used[m.id].update(["thumbs_down"] if levels[m.id] == THUMB_DOWN else [k for k in kinds if k != "thumbs_down"])
            ranked.add(m.id)

    for m in messages:
        r = ratings.get(m.id)
        thumb = None if r is None else ("thumbs_up" if r.value > 0 else "thumbs_down")
        if thumb is not None and m.id not in ranked and (prompt := context(m.parent_id)) is not None:
            out.ratings.append({"prompt": prompt, "answer": m.content, "rating": r.value, "reason": r.reason,
                                "user": owner, "model": m.model, "id": f"chat:{m.id}",
                                "meta": {"source": "chat", "conversation_id": c.id, "message_ids": [m.id]}})
            used[m.id].add(thumb)
        for kind in _signals(m, r):
            if kind not in used[m.id]:
                out.skipped[f"{kind}: {_unused_reason(kind, m, r, problem(m))}"] += 1


def _unused_reason(kind: str, m: StoredMessage, rating: Rating | None, problem: str | None) -> str:
    if kind != "thumbs_down" and rating is not None and rating.value < 0:
        return "the same answer is thumbed down"
    if problem is not None:
        return problem
    return "no other judged answer to the same message"


def export(db: Database, out_dir: str | Path, truncated_targets: bool = True) -> dict:
    """Write the training files and export.json; return the report (rows per file, signals, skipped)."""
    with db.reader() as s:
        collected = collect(s, truncated_targets)
    out_dir = Path(out_dir)
    for name, rows in collected.files().items():
        write_jsonl(out_dir / f"{name}.jsonl", rows)
    report = {"db_url": db.url.split("@")[-1], "exported_at": utcnow().isoformat() + "Z", **collected.report()}
    (out_dir / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(ExportConfig, argv, prog="kaizen export")
    if cfg.db_url.startswith("sqlite:///") and not Path(cfg.db_url[len("sqlite:///"):]).exists():
        raise ConfigError(f"config key 'db_url': no database at {cfg.db_url} (run kaizen serve first, or pass --db_url)")
    db = Database(cfg.db_url)
    db.migrate()  # an export from an older server brings its schema up to date first
    report = export(db, cfg.out, cfg.truncated_targets)
    db.close()
    for name, n in report["counts"].items():
        print(f"{Path(cfg.out) / (name + '.jsonl')}: {n} records")
    given = ", ".join(f"{n} {kind}" for kind, n in report["signals"].items()) or "none"
    print(f"signals: {given}")
    for why, n in report["skipped"].items():
        print(f"  in no file: {n} x {why}")
    for why, n in report["not_targets"].items():
        print(f"  not a demonstration: {n} x {why}")
    if report["truncated_targets"]:
        print(f"note: {report['truncated_targets']} demonstrations end where max_tokens cut the answer "
              "(kaizen serve --max_new_tokens; kaizen export --truncated_targets false leaves them out)")
    print(f"report: {Path(cfg.out) / 'export.json'}")
    return 0
