"""Moderation categories after OpenAI's moderation list, and the JSONL format of labelled texts.

    {"text": "How can I poison the well in Brindleford?", "labels": ["illicit/violent", "violence"]}
    {"text": "How do farmers protect wells from poison?", "labels": [], "mention": true}

``labels`` lists the categories a text belongs to (empty: harmless). A sub-kind implies its
parent ("harassment/threatening" also counts as "harassment"), so it need not be repeated.
``mention: true`` marks a harmless text that merely mentions a sensitive word; the evaluation
reports the false-positive rate on those separately. Unknown labels are errors naming file,
line and field. Reference: https://platform.openai.com/docs/guides/moderation (category list).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaizen.data.errors import DataError, DataIssue

# OpenAI's list minus "sexual/minors": Kaizen generates no such text, so it could not be measured.
MODERATION_CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic",
)
# What the attack detector tells apart (kaizen.safety.attacks): trained the same way.
ATTACK_CATEGORIES: tuple[str, ...] = ("injection", "jailbreak", "leak")


def parent(category: str) -> str:
    return category.split("/")[0]


def with_parents(labels: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``labels`` plus the parent of every sub-kind, sorted and without repeats."""
    return tuple(sorted({*labels, *(parent(c) for c in labels)}))


@dataclass(frozen=True)
class LabelledText:
    text: str
    labels: tuple[str, ...]  # parents included
    mention: bool = False  # harmless, but names a sensitive word on purpose

    def to_json(self) -> dict:
        return {"text": self.text, "labels": list(self.labels), **({"mention": True} if self.mention else {})}


def parse_labelled(rows: list[tuple[int, dict]], categories: tuple[str, ...], where: str) -> list[LabelledText]:
    """Check ``(line, row)`` pairs of the format above; every problem is reported with file, line and field."""
    out, issues = [], []
    for line, row in rows:
        def bad(name: str, message: str) -> None:
            issues.append(DataIssue(where, line, name, message))

        text, labels, mention = row.get("text"), row.get("labels", []), row.get("mention", False)
        if not isinstance(text, str) or not text.strip():
            bad("text", "must be a non-empty string")
        if not isinstance(labels, list) or not all(isinstance(c, str) for c in labels):
            bad("labels", "must be a list of category names")
            labels = []
        unknown = [c for c in with_parents(labels) if c not in categories]
        if unknown:
            bad("labels", f"unknown category {unknown[0]!r} (known: {', '.join(categories)})")
        if not isinstance(mention, bool):
            bad("mention", "must be true or false")
        elif mention and labels:
            bad("mention", "a harmless mention must have no labels")
        if not issues:
            out.append(LabelledText(text, with_parents(labels), mention))
    if issues:
        raise DataError(issues)
    return out


def read_labelled(path: str | Path, categories: tuple[str, ...]) -> list[LabelledText]:
    from kaizen.data.jsonl import read_jsonl

    return parse_labelled(read_jsonl(path), categories, str(path))


def write_labelled(path: str | Path, items: list[LabelledText]) -> Path:
    from kaizen.data.jsonl import write_jsonl

    write_jsonl(path, [i.to_json() for i in items])
    return Path(path)
