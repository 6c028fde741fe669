"""The model registry: one folder per version, each with its lineage, and one promoted version.

    models/
      v1/lineage.json          the first served model (registered from a path)
      v2/lineage.json          parent v1, the feedback it was trained on, configs, evaluation, status
      v2/model/                the trained model (any transformers / vLLM-loadable directory)
      v2/data/*.jsonl          the training rows, each with its conversation and message ids

    kaizen registry list models
    kaizen registry add models runs/sft/model --promote                 # v1: what is served first
    kaizen registry add models runs/ppo/model --parent v1 \
        --eval runs/eval/results.json --candidate ppo --reference sft    # the gate decides its status

``lineage.json``: ``version``, ``parent``, ``status`` (``training`` | ``promoted`` | ``rejected``),
``model`` (a path, relative to the version folder when inside it), ``data`` (file -> sha256 and
rows), ``configs``, ``eval``, ``gate`` and ``created_at``. The served model is the newest
promoted version (``kaizen serve --registry models`` follows it). Nothing is deleted: a rejected
candidate stays, marked rejected, with the evaluation that rejected it. Files are written
atomically (temporary file + rename), so a reader never sees half a lineage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LINEAGE = "lineage.json"
STATUSES = ("training", "promoted", "rejected")
_VERSION = re.compile(r"^v(\d+)$")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Version:
    name: str
    dir: Path
    lineage: dict

    @property
    def number(self) -> int:
        return int(_VERSION.match(self.name).group(1))

    @property
    def status(self) -> str:
        return self.lineage.get("status", "training")

    @property
    def model_path(self) -> Path:
        p = Path(self.lineage["model"])
        return p if p.is_absolute() else self.dir / p


class Registry:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def versions(self) -> list[Version]:
        if not self.root.exists():
            return []
        out = []
        for d in self.root.iterdir():
            if _VERSION.match(d.name) and (d / LINEAGE).exists():
                out.append(Version(d.name, d, json.loads((d / LINEAGE).read_text())))
        return sorted(out, key=lambda v: v.number)

    def get(self, name: str) -> Version:
        for v in self.versions():
            if v.name == name:
                return v
        raise KeyError(f"{self.root}: no version {name} (have {[v.name for v in self.versions()]})")

    def promoted(self) -> Version | None:
        """The newest promoted version: what is served."""
        done = [v for v in self.versions() if v.status == "promoted"]
        return done[-1] if done else None

    def new_version(self, parent: str | None, **fields) -> Version:
        """Create the next ``vN`` folder with status ``training``."""
        self.root.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for d in self.root.iterdir() if (m := _VERSION.match(d.name))]
        n = max(taken, default=0) + 1
        d = self.root / f"v{n}"
        d.mkdir()
        lineage = {"version": d.name, "parent": parent, "status": "training", "model": "model",
                   "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "data": {}, "configs": {}, "eval": None,
                   "gate": None, **fields}
        write_json_atomic(d / LINEAGE, lineage)
        return Version(d.name, d, lineage)

    def update(self, version: Version, **fields) -> Version:
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status {fields['status']!r} is not one of {STATUSES}")
        lineage = {**json.loads((version.dir / LINEAGE).read_text()), **fields}
        write_json_atomic(version.dir / LINEAGE, lineage)
        return Version(version.name, version.dir, lineage)

    def register(self, model: str | Path, parent: str | None = None, status: str = "promoted", **fields) -> Version:
        """Register a model that lives elsewhere (an absolute path; nothing is copied)."""
        if not Path(model).exists():
            raise FileNotFoundError(f"no model at {model}")
        v = self.new_version(parent, model=str(Path(model).resolve()), **fields)
        return self.update(v, status=status)

    def consumed(self) -> set[str]:
        """Fingerprints of every feedback row some version was already trained on."""
        seen = set()
        for v in self.versions():
            path = v.dir / "data" / "lineage_rows.jsonl"
            if path.exists():
                seen.update(json.loads(line)["fingerprint"] for line in path.read_text().splitlines() if line.strip())
        return seen


def record_data(files: dict[str, Path]) -> dict:
    """``{name: {"path", "sha256", "rows"}}`` for the lineage."""
    return {name: {"path": str(p), "sha256": sha256_file(p), "rows": sum(1 for line in open(p) if line.strip())}
            for name, p in files.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kaizen registry", description="List, add and promote model versions.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="versions, parents and status")
    ls.add_argument("registry")
    add = sub.add_parser("add", help="register a model; with --eval the promotion gate decides its status")
    add.add_argument("registry")
    add.add_argument("model")
    add.add_argument("--parent", default=None, help="version it was trained from (default: the promoted one)")
    add.add_argument("--promote", action="store_true", help="promote without a gate (the first served model)")
    add.add_argument("--eval", default=None, help="kaizen eval results.json comparing the model with its parent")
    add.add_argument("--candidate", default=None, help="the model's name in --eval")
    add.add_argument("--reference", default=None, help="the parent's name in --eval")
    add.add_argument("--min_ci_low", type=float, default=0.5, help="promote only if the CI's lower end is above this")
    add.add_argument("--no_worse", nargs="*", default=["harmful_compliance"], help="figures that must not rise")
    args = parser.parse_args(argv)
    reg = Registry(args.registry)
    if args.cmd == "list":
        for v in reg.versions():
            ev = (v.lineage.get("gate") or {}).get("win_rate")
            print(f"{v.name}\t{v.status}\tparent={v.lineage.get('parent')}\tmodel={v.model_path}"
                  + (f"\twin_rate={ev:.3f}" if isinstance(ev, float) else ""))
        return 0
    parent = args.parent or (reg.promoted().name if reg.promoted() else None)
    if args.promote or args.eval is None:
        if not args.promote:
            parser.error("give --eval (the gate decides) or --promote")
        v = reg.register(args.model, parent, status="promoted")
        print(f"registry: {v.name} promoted ({args.model})")
        return 0
    from kaizen.eval.gate import decide

    if not (args.candidate and args.reference):
        parser.error("--eval needs --candidate and --reference (the two models' names in results.json)")
    results = json.loads(Path(args.eval).read_text())
    gate = decide(results[args.candidate], results[args.reference], args.reference, args.min_ci_low, args.no_worse)
    v = reg.register(args.model, parent, status="promoted" if gate.promoted else "rejected",
                     eval={"results": str(Path(args.eval).resolve()), "sha256": sha256_file(args.eval)},
                     gate=gate.to_dict())
    print(f"registry: {v.name} {v.status}: {gate.summary()}")
    return 0
