"""``kaizen data``: check and convert data files, build the offline demo world.

    kaizen data validate alpaca.jsonl rankings.jsonl      # every bad row as file:line: field: message
    kaizen data validate prompts.jsonl --kind prompt
    kaizen data convert rankings.jsonl pairs.jsonl --to preference
    kaizen data convert alpaca.json sft_data/ --to messages   # a datasets save_to_disk directory
    kaizen data demo-world --out runs/world

Exit status: 0 when every row is good, 1 when any row is bad or a file has no rows (nothing is
written then), 2 for a usage error. A column that no format reads is a warning naming its first
line, with the key it was probably meant to be (``response`` beside ``prompt``: did you mean
``completion``?); ``--strict`` makes warnings fail too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import difflib

from kaizen.data.errors import DataError, DataIssue
from kaizen.data.formats import FORMAT_KIND, FORMATS, KINDS, ValidationReport, convert_file, validate_file
from kaizen.data.parse import FORMAT_KEYS, KNOWN_KEYS

_KIND_HELP = ("read rows as this kind of record (default for validate: each row's own; for convert: "
              "what --to holds, e.g. demonstration for messages; pass prompt to convert prompts)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaizen data", description="Check and convert data files; build "
                                     "the offline demo world.", formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n" + __doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    v = sub.add_parser("validate", help="check files; list every bad row as file:line: field: message")
    v.add_argument("files", nargs="+", metavar="FILE", help="a .jsonl/.json/.parquet/.csv file, a "
                   "save_to_disk directory, or a hub dataset id")
    v.add_argument("--kind", choices=KINDS, help=_KIND_HELP)
    v.add_argument("--split", default="train", help="split of a dataset directory or hub dataset")
    v.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too, unknown keys included")
    c = sub.add_parser("convert", help="convert SRC to another format at DST (never over SRC)")
    c.add_argument("src", metavar="SRC")
    c.add_argument("dst", metavar="DST", help=".jsonl, .json (JSON Lines), .parquet, or a directory "
                   "(ending in / or without a suffix) written with datasets' save_to_disk")
    c.add_argument("--to", required=True, choices=FORMATS, help="output format")
    c.add_argument("--kind", choices=KINDS, help=_KIND_HELP)
    c.add_argument("--split", default="train", help="split of a dataset directory or hub dataset")
    sub.add_parser("demo-world", add_help=False, help="build the offline demo world (kaizen data demo-world --help)")
    return parser


def _warning(w: DataIssue) -> str:
    return str(DataIssue(w.file, w.line, w.field, f"warning: {w.message}"))


# Column names seen in the wild for the keys Kaizen reads; checked before spelling (difflib).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "completion": ("response", "answer", "output", "target", "reply", "assistant", "generation", "model_output"),
    "prompt": ("question", "query", "instruction", "input", "user", "context", "request"),
    "chosen": ("chosen_response", "response_chosen", "preferred", "better", "winner", "good"),
    "rejected": ("rejected_response", "response_rejected", "dispreferred", "worse", "loser", "bad"),
    "messages": ("conversation", "dialog", "dialogue", "turns", "chat", "history"),
    "answers": ("responses", "completions", "candidates", "outputs", "generations"),
    "ranks": ("ranking", "rank", "order", "ordering", "ratings"),
    "text": ("content", "document", "body", "passage", "sentence"),
}
# Within an Alpaca row the same intent has Alpaca's names.
_ALPACA_NAMES = {"completion": "output", "prompt": "instruction"}


def suggest_key(key: str, fmt: str, row_keys: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The key Kaizen reads that ``key`` (a column of a ``fmt`` row) was most likely meant to be."""
    low = key.lower().replace("-", "_").replace(" ", "_")
    for target, names in SYNONYMS.items():
        if low in names:
            target = _ALPACA_NAMES.get(target, target) if fmt == "alpaca" else target
            if target not in row_keys:
                return target
    known = sorted(set().union(*KNOWN_KEYS.values()) - set(row_keys))
    close = difflib.get_close_matches(low, known, n=1, cutoff=0.75)  # 0.75: "score_chosen" is not a misspelt "chosen"
    return close[0] if close else None


def unknown_key_warnings(report: ValidationReport) -> list[str]:
    """One line per column no format reads: where it first appears, how often, and a likely key."""
    lines = []
    for key in sorted(report.extra_key_first):
        line, fmt = report.extra_key_first[key]
        n = report.extra_key_rows[key]
        present = set(FORMAT_KEYS[fmt]) & set(KNOWN_KEYS[fmt])
        hint = suggest_key(key, fmt, present)
        read_as = " + ".join(FORMAT_KEYS[fmt])
        msg = (f"warning: unknown key, ignored in {n} row{'s' * (n != 1)} read as {fmt} ({read_as})"
               + (f"; did you mean '{hint}'?" if hint else ""))
        lines.append(str(DataIssue(report.source, line, key, msg)))
    return lines


def _validate(args: argparse.Namespace) -> int:
    bad = False
    for path in args.files:
        report = validate_file(path, args.kind, split=args.split)
        for issue in report.issues:
            print(issue)
        if report.rows == 0 and not report.issues:
            print(DataIssue(str(path), None, None, "no rows: the file is empty (nothing to train on)"))
            bad = True
        warnings = [_warning(w) for w in report.warnings] + unknown_key_warnings(report)
        for w in warnings:
            print(w)
        print(report.summary())
        bad |= not report.passed or (args.strict and bool(warnings))
    return 1 if bad else 0


@contextmanager
def _notes_to_stderr() -> Iterator[None]:
    """Show what a conversion drops (logged by ``kaizen.data``) on stderr for this command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kaizen data: %(message)s"))
    logger = logging.getLogger("kaizen.data")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _convert(args: argparse.Namespace) -> int:
    kind = args.kind or FORMAT_KIND[args.to]
    with _notes_to_stderr():
        try:
            n = convert_file(args.src, args.dst, args.to, kind, split=args.split)
        except DataError as e:
            for issue in e.issues:
                print(issue, file=sys.stderr)
            print(f"kaizen data convert: {len(e.issues)} problem(s); nothing written to {args.dst}", file=sys.stderr)
            return 1
    print(f"wrote {n} {args.to} rows ({kind} records) to {args.dst}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo-world"]:  # owned by kaizen.world; imported only when asked for
        from kaizen.world.build import main as build_main

        return int(build_main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    return _validate(args) if args.command == "validate" else _convert(args)
