"""``kaizen data``: check and convert data files, build the offline demo world.

    kaizen data validate alpaca.jsonl rankings.jsonl      # every bad row as file:line: field: message
    kaizen data validate prompts.jsonl --kind prompt
    kaizen data convert rankings.jsonl pairs.jsonl --to preference
    kaizen data convert alpaca.json sft_data/ --to messages   # a datasets save_to_disk directory
    kaizen data demo-world --out runs/world

Exit status: 0 when every row is good, 1 when any row is bad (nothing is written then), 2 for
a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from kaizen.data.errors import DataError, DataIssue
from kaizen.data.formats import FORMAT_KIND, FORMATS, KINDS, convert_file, validate_file

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
    c = sub.add_parser("convert", help="convert SRC to another format at DST (never over SRC)")
    c.add_argument("src", metavar="SRC")
    c.add_argument("dst", metavar="DST", help=".jsonl, .json (JSON Lines), .parquet, or a directory "
                   "(ending in / or without a suffix) written with datasets' save_to_disk")
    c.add_argument("--to", required=True, choices=FORMATS, help="output format")
    c.add_argument("--kind", choices=KINDS, help=_KIND_HELP)
    c.add_argument("--split", default="train", help="split of a dataset directory or hub dataset")
    sub.add_parser("demo-world", add_help=False, help="build the offline demo world (kaizen data demo-world --help)")
    sub.add_parser("reasoning-world", add_help=False,
                   help="add reasoning and look-up tasks to a demo world (kaizen data reasoning-world --help)")
    return parser


def _warning(w: DataIssue) -> str:
    return str(DataIssue(w.file, w.line, w.field, f"warning: {w.message}"))


def _validate(args: argparse.Namespace) -> int:
    bad = False
    for path in args.files:
        report = validate_file(path, args.kind, split=args.split)
        for issue in report.issues:
            print(issue)
        for w in report.warnings:
            print(_warning(w))
        print(report.summary())
        bad |= not report.passed
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
    if argv[:1] == ["reasoning-world"]:  # additive reasoning tasks beside a world (kaizen.world.reasoning)
        from kaizen.world.reasoning.build import main as reasoning_main

        return int(reasoning_main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    return _validate(args) if args.command == "validate" else _convert(args)
