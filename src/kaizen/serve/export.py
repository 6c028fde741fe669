"""``kaizen export``: what the service collected, as Kaizen training files.

    kaizen export --db_url sqlite:///kaizen-serve.db --out feedback/
    kaizen sft --data feedback/demonstrations.jsonl ...   |   kaizen rm --data feedback/rankings.jsonl ...

Writes into ``--out``:

- ``demonstrations.jsonl``: ``{"messages": [...]}`` (``Demonstration.to_dict``): labelers'
  demonstrations, and assistant turns a chat user wrote themselves (an edited answer).
- ``rankings.jsonl``: Kaizen's K-way ranking records (``Ranking.to_dict``): every labeler's
  ranking of a task (``meta.source = "labeling"``) and, from the chat, every user message with
  two or more answers (regenerations, or an answer the user wrote themselves) where the user
  expressed a preference (``meta.source = "chat"``). Levels: rated up, or chosen / continued from -> 1; no signal -> 2;
  rated down -> 3. So thumbs up and down under the same prompt give a preference pair, and a
  regenerate where one answer was kept gives a K = 2+ ranking. Answers the user stopped
  (``finish_reason = "cancelled"``) are left out: they are not what the model would say.
- ``ratings.jsonl``: thumbs with nothing to compare against:
  ``{"prompt", "answer", "rating": 1|-1, "reason", "user", "model", "id"}``.
- ``export.json``: counts, for the run's log.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from kaizen.config import ConfigError, arg, parse_config
from kaizen.data.jsonl import write_jsonl
from kaizen.data.records import MAX_ANSWERS, MIN_ANSWERS, Demonstration, Judgement, Ranking, conversation_from_dicts
from kaizen.serve import compare, store
from kaizen.serve.db import Assignment, Conversation, Database, Message, Task, User, utcnow


@dataclass(frozen=True)
class ExportConfig:
    """Turn collected chat feedback, rankings and demonstrations into Kaizen training files."""

    db_url: str = arg("sqlite:///kaizen-serve.db", "The service's database (kaizen serve --db_url).")
    out: str = arg("feedback", "Directory for demonstrations.jsonl, rankings.jsonl, ratings.jsonl.")


@dataclass
class Collected:
    demonstrations: list[Demonstration] = field(default_factory=list)
    rankings: list[Ranking] = field(default_factory=list)
    ratings: list[dict] = field(default_factory=list)

    def files(self) -> dict[str, list[dict]]:
        return {"demonstrations": [d.to_dict() for d in self.demonstrations],
                "rankings": [r.to_dict() for r in self.rankings], "ratings": list(self.ratings)}


def collect(s) -> Collected:
    out = Collected()
    _from_labeling(s, out)
    names = dict(s.execute(select(User.id, User.name)).all())
    for c in s.scalars(select(Conversation).where(Conversation.deleted.is_(False)).order_by(Conversation.created_at)):
        _from_conversation(s, c, names.get(c.user_id, "unknown"), out)
    return out


def _from_labeling(s, out: Collected) -> None:
    q = (select(Task, User.name, Assignment).join(Assignment, Assignment.task_id == Task.id)
         .join(User, User.id == Assignment.user_id).where(Assignment.status == "submitted")
         .order_by(Task.id, Assignment.submitted_at))
    for task, name, a in s.execute(q):
        prompt, res, rid = conversation_from_dicts(task.prompt), a.result or {}, f"task{task.id}:{name}"
        if task.kind == "demonstration":
            out.demonstrations.append(Demonstration(prompt + conversation_from_dicts(
                [{"role": "assistant", "content": res["answer"]}]), id=rid))
            continue
        if task.kind == "compare" and not compare.is_strict(res):
            continue  # "equal": no preferred answer, so no training pair
        if len(set(res.get("ranks") or ())) < 2:
            continue  # all_bad or all ranks equal: no pair, and `kaizen data validate` rejects such a ranking
        judgements = None
        if res.get("judgements"):
            judgements = [Judgement(j.get("helpful"), j.get("truthful"), j.get("harmless"), tuple(j.get("flags") or ()))
                          for j in res["judgements"]]
        meta = {"source": "labeling", "task_id": task.id}
        if res.get("comment"):
            meta["comment"] = res["comment"]
        out.rankings.append(Ranking(prompt, list(task.answers), list(res["ranks"]), labeler=name,
                                    judgements=judgements, all_bad=bool(res.get("all_bad")), id=rid, meta=meta))


def _from_conversation(s, c: Conversation, owner: str, out: Collected) -> None:
    messages = store.messages_of(s, c.id)
    by_id = {m.id: m for m in messages}
    ratings = store.ratings_of(s, [m.id for m in messages], c.user_id)
    children: dict[str | None, list[Message]] = defaultdict(list)
    for m in messages:
        children[m.parent_id].append(m)

    def prompt(parent_id: str) -> list[dict]:
        path, m = [], by_id.get(parent_id)
        while m is not None:
            path.append(m)
            m = by_id.get(m.parent_id) if m.parent_id else None
        return store.prompt_of(c, path[::-1])

    for m in messages:
        if m.role == "assistant" and m.source == "human":
            out.demonstrations.append(Demonstration(conversation_from_dicts(
                prompt(m.parent_id) + [{"role": "assistant", "content": m.content}]), id=f"chat:{m.id}"))
    compared: set[str] = set()
    for parent_id, kids in children.items():
        alts = [m for m in kids if m.role == "assistant" and m.finish_reason != "cancelled"]
        if len(alts) < MIN_ANSWERS:
            continue

        def level(m: Message) -> int:
            r = ratings.get(m.id)
            if r is not None and r.value < 0:
                return 3
            return 1 if (r is not None or m.chosen or children.get(m.id)) else 2

        alts = sorted(alts, key=level)[:MAX_ANSWERS]
        levels = [level(m) for m in alts]
        if len(set(levels)) < 2:
            continue  # no preference was expressed between these answers
        dense = {lv: i + 1 for i, lv in enumerate(sorted(set(levels)))}
        out.rankings.append(Ranking(conversation_from_dicts(prompt(parent_id)), [m.content for m in alts],
                                    [dense[lv] for lv in levels], labeler=owner, id=f"chat:{parent_id}",
                                    meta={"source": "chat", "conversation_id": c.id,
                                          "message_ids": [m.id for m in alts]}))
        compared.update(m.id for m in alts)
    for m in messages:
        r = ratings.get(m.id)
        if r is not None and m.id not in compared:
            out.ratings.append({"prompt": prompt(m.parent_id), "answer": m.content, "rating": r.value,
                                "reason": r.reason, "user": owner, "model": m.model, "id": f"chat:{m.id}"})


def export(db: Database, out_dir: str | Path) -> dict[str, int]:
    """Write the training files; return how many records each got."""
    with db.reader() as s:
        files = collect(s).files()
    out_dir = Path(out_dir)
    counts = {name: write_jsonl(out_dir / f"{name}.jsonl", rows) for name, rows in files.items()}
    (out_dir / "export.json").write_text(json.dumps({"db_url": db.url.split("@")[-1], "exported_at": utcnow().isoformat() + "Z",
                                                     "counts": counts}, indent=2) + "\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(ExportConfig, argv, prog="kaizen export")
    if cfg.db_url.startswith("sqlite:///") and not Path(cfg.db_url[len("sqlite:///"):]).exists():
        raise ConfigError(f"config key 'db_url': no database at {cfg.db_url} (run kaizen serve first, or pass --db_url)")
    db = Database(cfg.db_url)
    db.migrate()  # an export from an older server brings its schema up to date first
    counts = export(db, cfg.out)
    db.close()
    for name, n in counts.items():
        print(f"{Path(cfg.out) / (name + '.jsonl')}: {n} records")
    return 0
