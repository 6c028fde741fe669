"""Load any supported data source as typed records, validate it, convert it, write it back.

    demos = load_records("alpaca_data.json", "demonstration")      # list[Demonstration]
    pairs = load_records("Anthropic/hh-rlhf", "preference")        # hub id -> list[PreferencePair]
    report = validate_file("rankings.jsonl")                       # every bad row, not just the first
    convert_file("rankings.jsonl", "pairs.jsonl", to="preference") # lossy: says so in the log

A *kind* is what a stage consumes, a *format* is how rows look on disk (see ``parse`` for the
formats and ``sources`` for the files, directories and hub ids that hold them):

    kind           record                 formats it is read from
    text           str                    text
    demonstration  Demonstration          messages, prompt_completion, alpaca, sharegpt,
                                          ranking (best answer), preference (chosen answer)
    prompt         list[Message]          prompt_only, prompt_completion, messages, sharegpt,
                                          alpaca, preference, preference_implicit, ranking
    preference     PreferencePair         preference, preference_implicit, ranking (all strict pairs)
    ranking        Ranking                ranking, preference, preference_implicit (K = 2)

Policy, chosen so that nothing stored is lost or half-read:

- One bad row fails a load: ``DataError`` lists every bad row (file, line, field), never only
  the first, so one pass over the file fixes it.
- Soft problems are warnings (logged by ``load_records``, listed by ``validate_file``): a
  ranking whose duplicate answers are ranked differently, a pair whose answers are equal, a
  ranking marked ``all_bad`` read as a demonstration (skipped: nothing to imitate), and a
  file that mixes formats. Mixing is allowed because each row is read on its own into the same
  record type; it is flagged because it usually means files were concatenated by mistake.
- ``convert_file`` reads everything before it writes anything, never writes over its source,
  and writes atomically, so a bad row leaves an existing destination untouched.
- Written prompts are plain strings when every record's prompt is one user turn, otherwise
  TRL's conversational lists for the whole file (one column type: Arrow needs it).
  ``preference_implicit`` is always written conversationally (plain text would have to be split
  by guesswork again on reading).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from kaizen.data.errors import DataError, DataIssue
from kaizen.data.parse import (
    FORMAT_KEYS, FORMATS, KINDS, KNOWN_KEYS, _format, _Bad, _transcript, detect_format, natural_kind,
    row_to_demonstration, row_to_pairs, row_to_prompt, row_to_ranking, row_to_text,
)
from kaizen.data.records import (
    Conversation, Demonstration, Message, PreferencePair, Ranking, conversation_to_dicts, ranking_from_pair,
)
from kaizen.data.sources import iter_rows, write_rows

__all__ = [
    "FORMATS", "FORMAT_KEYS", "KINDS", "FORMAT_KIND", "WRITABLE", "ValidationReport", "detect_format",
    "row_to_text", "row_to_demonstration", "row_to_prompt", "row_to_pairs", "row_to_ranking",
    "load_records", "save_records", "records_to_rows", "validate_file", "convert_file",
]

log = logging.getLogger("kaizen.data")

Kind = Literal["text", "demonstration", "prompt", "preference", "ranking"]
Record = str | Demonstration | Conversation | PreferencePair | Ranking

# The kind of record each output format holds (by default, what ``convert_file`` reads as).
FORMAT_KIND: dict[str, str] = {
    "text": "text", "messages": "demonstration", "prompt_completion": "demonstration", "alpaca": "demonstration",
    "sharegpt": "demonstration", "prompt_only": "prompt", "preference": "preference",
    "preference_implicit": "preference", "ranking": "ranking",
}
# Which formats each kind of record can be written as (ranking <-> preference converts on the way).
WRITABLE: dict[str, tuple[str, ...]] = {
    "text": ("text",), "demonstration": ("messages", "prompt_completion", "alpaca", "sharegpt"),
    "prompt": ("prompt_only", "messages", "sharegpt"),
    "preference": ("preference", "preference_implicit", "ranking"),
    "ranking": ("ranking", "preference", "preference_implicit"),
}
_PARSERS = {"text": row_to_text, "demonstration": row_to_demonstration, "prompt": row_to_prompt,
            "preference": row_to_pairs, "ranking": row_to_ranking}
_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


@dataclass
class ValidationReport:
    """What one source holds: rows per format, every bad row, and the warnings."""

    source: str
    kind: str | None = None
    rows: int = 0
    bad: int = 0  # rows with an issue; ``issues`` may also hold one for the source as a whole
    formats: Counter[str] = field(default_factory=Counter)
    issues: list[DataIssue] = field(default_factory=list)
    warnings: list[DataIssue] = field(default_factory=list)
    extra_keys: set[str] = field(default_factory=set)  # columns no format reads (conversion drops them)
    extra_key_first: dict[str, tuple[int | None, str]] = field(default_factory=dict)  # key -> (first line, format)
    extra_key_rows: Counter[str] = field(default_factory=Counter)  # key -> rows that hold it
    guessed_prompts: int = 0  # plain-text implicit preferences: prompt split off by their shared start

    @property
    def ok(self) -> int:
        return self.rows - self.bad

    @property
    def passed(self) -> bool:
        return not self.issues

    def summary(self) -> str:
        seen = ", ".join(f"{f} {n}" for f, n in self.formats.most_common()) or "none"
        return f"{self.source}: {self.rows} rows, {self.ok} ok, {self.bad} bad; formats: {seen}"


def _scan(source: str | Path, kind: str | None, split: str = "train", limit: int | None = None
          ) -> tuple[list[tuple[int | None, Record]], ValidationReport]:
    """Parse every row as ``kind`` (each row's natural kind when None), collecting all issues."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    name = str(source)
    report = ValidationReport(name, kind)
    items: list[tuple[int | None, Record]] = []
    first_line: dict[str, int] = {}
    try:
        for line, row in iter_rows(source, split=split, limit=limit):
            report.rows += 1
            if isinstance(row, DataIssue):
                report.issues.append(row)
                report.bad += 1
                continue
            fmt = None
            try:
                fmt = _format(row)
                report.formats[fmt] += 1
                first_line.setdefault(fmt, line)
                extra = {k for k, v in row.items() if v is not None} - KNOWN_KEYS[fmt]
                report.extra_keys |= extra
                report.extra_key_rows.update(extra)
                for k in extra:
                    report.extra_key_first.setdefault(k, (line, fmt))
                report.guessed_prompts += (fmt == "preference_implicit" and isinstance(row.get("chosen"), str)
                                           and _transcript(row["chosen"]) is None)
            except _Bad:
                pass  # the parser below reports it with file and line
            row_kind = kind or natural_kind(row)
            try:
                if row_kind == "demonstration" and fmt == "ranking" and row.get("all_bad") is True:
                    row_to_ranking(row, name, line, report.warnings)  # checked all the same, then skipped
                    report.warnings.append(DataIssue(name, line, "all_bad", "skipped: every answer was marked "
                                                     "bad, so there is no answer to imitate"))
                    continue
                out = _PARSERS[row_kind](row, name, line, report.warnings)
            except DataError as e:
                report.issues.extend(e.issues)
                report.bad += 1
                continue
            if row_kind == "preference":  # a ranking gives several pairs
                items.extend((line, r) for r in out)
            else:
                items.append((line, out))
    except DataError as e:  # the source as a whole: not found, unreadable, no such split
        report.issues.extend(e.issues)
    if len(report.formats) > 1:
        mixed = ", ".join(f"{f} ({n} rows, first at line {first_line[f]})" for f, n in report.formats.most_common())
        report.warnings.append(DataIssue(name, None, None, f"mixed formats in one file: {mixed}; each row is read "
                                         "on its own, but this often means files were concatenated by mistake"))
    return items, report


def _log_warnings(warnings: list[DataIssue]) -> None:
    for w in warnings[:20]:
        log.warning("warning: %s", w)
    if len(warnings) > 20:
        log.warning("... and %d more warnings", len(warnings) - 20)


@overload
def load_records(source: str | Path, kind: Literal["text"], *, split: str = ...,
                 limit: int | None = ..., skip_bad: bool = ..., max_bad_share: float = ...) -> list[str]: ...
@overload
def load_records(source: str | Path, kind: Literal["demonstration"], *, split: str = ...,
                 limit: int | None = ..., skip_bad: bool = ..., max_bad_share: float = ...) -> list[Demonstration]: ...
@overload
def load_records(source: str | Path, kind: Literal["prompt"], *, split: str = ...,
                 limit: int | None = ..., skip_bad: bool = ..., max_bad_share: float = ...) -> list[Conversation]: ...
@overload
def load_records(source: str | Path, kind: Literal["preference"], *, split: str = ...,
                 limit: int | None = ..., skip_bad: bool = ..., max_bad_share: float = ...) -> list[PreferencePair]: ...
@overload
def load_records(source: str | Path, kind: Literal["ranking"], *, split: str = ...,
                 limit: int | None = ..., skip_bad: bool = ..., max_bad_share: float = ...) -> list[Ranking]: ...


def load_records(source: str | Path, kind: Kind, *, split: str = "train", limit: int | None = None,
                 skip_bad: bool = False, max_bad_share: float = 0.05) -> list[Any]:
    """Every row of ``source`` as ``kind`` records; ``DataError`` listing all bad rows if any.

    ``source``: a ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv`` file, a ``save_to_disk``
    directory (``split`` picks from a DatasetDict), or a hub id (``load_dataset(source, split)``).
    ``limit`` reads only the first rows. A ranking read as ``preference`` yields several records.
    ``skip_bad`` (a stage's ``--skip_bad_rows``) drops bad rows and logs how many and why, unless
    more than ``max_bad_share`` of the rows are bad: then it fails, as a wrong file usually is.
    """
    items, report = _scan(source, kind, split, limit)
    if report.issues:
        whole = any(i.line is None for i in report.issues)  # the source itself: missing, unreadable, no split
        if not skip_bad or whole:
            raise DataError(report.issues)
        if report.bad > max_bad_share * report.rows:
            raise DataError([DataIssue(report.source, None, None, f"{report.bad} of {report.rows} rows are bad "
                                       f"({report.bad / report.rows:.1%}), more than max_bad_share "
                                       f"{max_bad_share:.1%} allows; the first ones follow"), *report.issues])
        log.warning("%s", skip_report(report))
    _log_warnings(report.warnings)
    return [r for _, r in items]


def skip_report(report: ValidationReport, shown: int = 5) -> str:
    """``skipped 3 of 120 rows of f.jsonl: 2 x 'chosen: ...' (first at line 7), ...``: the reasons, most common first."""
    reasons: Counter[str] = Counter()
    first: dict[str, int | None] = {}
    for issue in report.issues:
        why = f"{issue.field}: {issue.message}" if issue.field else issue.message
        reasons[why] += 1
        first.setdefault(why, issue.line)
    listed = "; ".join(f"{n} x '{why}' (first at line {first[why]})" for why, n in reasons.most_common(shown))
    more = f"; and {len(reasons) - shown} other reasons" if len(reasons) > shown else ""
    return f"skipped {report.bad} of {report.rows} rows of {report.source} (skip_bad_rows): {listed}{more}"


def validate_file(path: str | Path, kind: str | None = None, *, split: str = "train") -> ValidationReport:
    """Check every row of ``path`` (as ``kind``, or each row's natural kind) without raising."""
    return _scan(path, kind, split)[1]


# ---- writing --------------------------------------------------------------------------------

def _kind_of(record: Any) -> str:
    if isinstance(record, str):
        return "text"
    if isinstance(record, list) and all(isinstance(m, Message) for m in record):
        return "prompt"
    for cls, kind in ((Demonstration, "demonstration"), (PreferencePair, "preference"), (Ranking, "ranking")):
        if isinstance(record, cls):
            return kind
    raise TypeError(f"not a Kaizen record: {type(record).__name__}")


def _single_turn(record: Record) -> bool:
    """True when the record's prompt is one user turn (so it can be written as a plain string)."""
    if isinstance(record, Demonstration):
        return [m.role for m in record.messages] == ["user", "assistant"]
    prompt = record.prompt if isinstance(record, PreferencePair) else record
    return isinstance(prompt, list) and [m.role for m in prompt] == ["user"]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _row(rec: Any, fmt: str, plain: bool) -> dict[str, Any]:
    """One record as one row of ``fmt``; ``_Bad`` when the format cannot hold it."""
    if fmt == "text":
        return {"text": rec}
    if fmt == "ranking":
        return rec.to_dict()
    if isinstance(rec, PreferencePair):
        prompt = conversation_to_dicts(rec.prompt)
        if fmt == "preference_implicit":
            row = {"chosen": prompt + _assistant(rec.chosen), "rejected": prompt + _assistant(rec.rejected)}
        elif plain:
            row = {"prompt": rec.prompt[0].content, "chosen": rec.chosen, "rejected": rec.rejected}
        else:
            row = {"prompt": prompt, "chosen": _assistant(rec.chosen), "rejected": _assistant(rec.rejected)}
        return row | ({"id": rec.id} if rec.id is not None else {})
    conv, rid = (rec.messages, rec.id) if isinstance(rec, Demonstration) else (rec, None)
    context_only = [i for i, m in enumerate(conv) if m.role == "assistant" and m.weight == 0]
    if isinstance(rec, Demonstration) and context_only and (
            fmt in ("sharegpt", "alpaca") or (fmt == "prompt_completion" and context_only[-1] == len(conv) - 1)):
        raise _Bad(f"messages[{context_only[0]}].weight", f"'{fmt}' has no per-turn weight, so this context-only "
                   "turn would become a training target (write messages to keep the weights)")
    if fmt == "prompt_only":
        row = {"prompt": conv[0].content if plain else conversation_to_dicts(conv)}
    elif fmt == "messages":
        row = {"messages": conversation_to_dicts(conv)}
    elif fmt == "sharegpt":
        row = {"conversations": [{"from": _SHAREGPT_FROM[m.role], "value": m.content} for m in conv]}
    elif conv[-1].role != "assistant":
        raise _Bad(None, f"a demonstration must end with an assistant turn to be written as '{fmt}'")
    elif fmt == "prompt_completion":
        row = ({"prompt": conv[0].content, "completion": conv[1].content} if plain else
               {"prompt": conversation_to_dicts(conv[:-1]), "completion": conversation_to_dicts(conv[-1:])})
    elif [m.role for m in conv] == ["user", "assistant"]:  # alpaca
        row = {"instruction": conv[0].content, "input": "", "output": conv[1].content}
    else:
        raise _Bad(None, "alpaca holds one user turn and one answer; this record has roles "
                         f"{[m.role for m in conv]} (write messages or sharegpt to keep it whole)")
    return row | ({"id": rid} if rid is not None else {})


def records_to_rows(records: Iterable[Any], fmt: str, *, file: str = "<records>",
                    lines: list[int | None] | None = None) -> list[dict[str, Any]]:
    """Records as rows of ``fmt``; ``DataError`` naming every record the format cannot hold.

    Rankings written as a preference format become their strict pairs (lossy); preference
    pairs written as ``ranking`` become K = 2 rankings. ``lines`` (the source line of each
    record) makes errors point at the source row; without it they name the record index.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    records = list(records)
    items = list(zip(lines if lines is not None else range(len(records)), records))
    kinds = {_kind_of(r) for r in records}
    if len(kinds) > 1:
        raise TypeError(f"records of different kinds cannot go in one file: {sorted(kinds)}")
    kind = kinds.pop() if kinds else None
    if kind is not None and fmt not in WRITABLE[kind]:
        raise DataError(DataIssue(file, None, None, f"{kind} records cannot be written as '{fmt}' "
                                  f"(they can be written as: {', '.join(WRITABLE[kind])})"))
    if fmt in ("preference", "preference_implicit"):
        items = [(ln, p) for ln, r in items for p in (r.to_pairs() if isinstance(r, Ranking) else [r])]
    elif fmt == "ranking":
        items = [(ln, ranking_from_pair(r) if isinstance(r, PreferencePair) else r) for ln, r in items]
    plain = all(_single_turn(r) for _, r in items)
    rows, issues = [], []
    for ln, rec in items:
        try:
            rows.append(_row(rec, fmt, plain))
        except _Bad as e:
            issues.append(DataIssue(file, ln, e.field, e.message))
    if issues:
        raise DataError(issues)
    return rows


def save_records(records: Iterable[Any], path: str | Path, fmt: str) -> int:
    """Write records as ``fmt`` rows, atomically; returns the number of rows written.

    ``.jsonl`` / ``.json``: JSON Lines; ``.parquet``: Parquet; a path ending in ``/`` or with
    no suffix: a ``datasets`` ``save_to_disk`` directory (``load_records`` reads all three).
    """
    return write_rows(records_to_rows(records, fmt, file=str(path)), path)


# ---- conversion -----------------------------------------------------------------------------

def _loss_notes(report: ValidationReport, kind: str, to: str) -> list[str]:
    """What a conversion drops, in words (logged, so a user never loses data silently)."""
    f, notes = report.formats, []
    if f["ranking"] and kind == "preference":
        notes.append("ranking -> preference is lossy: each K-way ranking becomes its strictly ordered pairs "
                     "(ties give none); labeler, judgements, all_bad and meta are dropped")
    if kind == "demonstration" and (f["ranking"] or f["preference"] or f["preference_implicit"]):
        notes.append("only the best-ranked (chosen) answer of each row is kept; the other answers are dropped")
    if kind == "prompt" and set(f) - {"prompt_only"}:
        notes.append("only the prompts are kept; answers are dropped")
    if kind == "ranking" and f["ranking"] and to != "ranking":
        notes.append(f"ranking -> {to} is lossy: strict pairs only; labeler, judgements and meta are dropped")
    if report.guessed_prompts:
        notes.append(f"{report.guessed_prompts} plain-text implicit preferences were split into prompt and answers "
                     "at the start chosen and rejected share (cut back to a word boundary): check the prompts")
    if report.extra_keys:
        notes.append(f"columns no format reads are dropped: {', '.join(sorted(report.extra_keys))}")
    return notes


def convert_file(src: str | Path, dst: str | Path, to: str, kind: str | None = None, *,
                 split: str = "train") -> int:
    """Convert ``src`` to format ``to`` at ``dst``; returns the number of rows written.

    Reads ``src`` as ``kind`` (default: the kind ``to`` holds, ``FORMAT_KIND``; pass
    ``kind="prompt"`` to write prompts as messages / sharegpt). Every row is parsed and every
    output row built before ``dst`` is touched, so one bad row writes nothing; ``dst`` is
    never the source. What a lossy conversion drops is logged to the ``kaizen.data`` logger.
    """
    if to not in FORMATS:
        raise ValueError(f"unknown format {to!r} (expected one of {', '.join(FORMATS)})")
    kind = kind or FORMAT_KIND[to]
    s, d = Path(src).resolve(), Path(dst).resolve()
    if s == d or s.is_relative_to(d) or (Path(src).is_dir() and d.is_relative_to(s)):
        raise DataError(DataIssue(str(dst), None, None, f"refusing to write over the source {src}: "
                                  "choose another destination"))
    if to not in WRITABLE[kind]:
        raise DataError(DataIssue(str(dst), None, None, f"{kind} records cannot be written as '{to}' "
                                  f"(they can be written as: {', '.join(WRITABLE[kind])})"))
    items, report = _scan(src, kind, split)
    if report.issues:
        raise DataError(report.issues)
    rows = records_to_rows([r for _, r in items], to, file=str(src), lines=[ln for ln, _ in items])
    _log_warnings(report.warnings)
    for note in _loss_notes(report, kind, to):
        log.warning("%s", note)
    return write_rows(rows, dst)
