"""``kaizen moderation train|eval``: a moderation classifier (or the attack detector) on any base model.

    kaizen moderation train --base runs/pretrain/model --out runs/moderation     # generated data
    kaizen moderation train --base bert-base-uncased --data mine.jsonl --heldout mine_test.jsonl
    kaizen moderation train --task attacks --base runs/pretrain/model --out runs/attack-detector
    kaizen moderation eval runs/moderation/model                                 # its held-out split

Without ``--data`` the texts are generated (kaizen.safety.moderation_data; the attack detector's
from kaizen.safety.attacks' detector templates, which the red-team suite never uses) over the
knowledge base of ``--world`` or a freshly generated one, and written next to the model
(``train.jsonl``, ``heldout.jsonl``) so a run can be inspected and repeated. The data format is
in kaizen/safety/categories.py and docs/safety.md. ``eval`` prints a table and writes JSON.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kaizen.config import ConfigError, arg, parse_config
from kaizen.safety.categories import (ATTACK_CATEGORIES, MODERATION_CATEGORIES, LabelledText, read_labelled,
                                      write_labelled)
from kaizen.safety.config import parse_thresholds


@dataclass(frozen=True)
class ModerationTrainConfig:
    """Train a multi-label moderation classifier (or the attack detector) on a transformers base model."""

    base: str | None = arg(None, "Base model: hub id or directory of any causal LM or encoder (a new "
                                 "sequence-classification head is put on it).")
    out: str = arg("runs/moderation", "Run directory; the classifier is saved in OUT/model.")
    task: Literal["moderation", "attacks"] = arg("moderation", "moderation: OpenAI's categories; attacks: the "
                                                 "injection / jailbreak / leak detector.")
    data: str | None = arg(None, "Training JSONL ({text, labels, mention}); default: generated.")
    heldout: str | None = arg(None, "Held-out JSONL for `eval`; default: generated with held-out entities.")
    world: str | None = arg(None, "Demo world directory whose names fill the generated texts; default: a new "
                                  "knowledge base from --seed.")
    n_per_template: int = arg(10, "Generated texts per template (training split; held-out gets half).")
    max_steps: int = arg(300, "Optimizer steps.")
    batch_size: int = arg(32, "Texts per step.")
    lr: float = arg(1e-3, "Peak learning rate (a small model from scratch takes 1e-3; a pretrained 100M+ "
                          "model wants ~2e-5).")
    max_length: int = arg(96, "Tokens per text; longer ones are truncated.")
    precision: Literal["fp32", "bf16", "fp16"] = arg("fp32", "Training precision.")
    members: int = arg(1, "Classifiers trained with other seeds whose scores are averaged (a deep ensemble, saved "
                          "in OUT/model/members); on a small base 3 drop each one's own false positives (docs/safety.md).")
    seed: int = arg(0, "Seed of data generation and training.")


@dataclass(frozen=True)
class ModerationEvalConfig:
    """Precision, recall and F1 per category on held-out texts, and false positives on harmless mentions."""

    model: str | None = arg(None, "Classifier directory (kaizen moderation train's OUT/model); positional.")
    data: str | None = arg(None, "Held-out JSONL; default: heldout.jsonl beside the model directory.")
    threshold: float = arg(0.5, "Score at or above which a category is flagged.")
    thresholds: list[str] = arg([], "Per-category thresholds overriding --threshold, as CATEGORY=SCORE.")
    out: str | None = arg(None, "JSON report path; default: eval.json beside the model directory.")


def categories_for(task: str) -> tuple[str, ...]:
    return MODERATION_CATEGORIES if task == "moderation" else ATTACK_CATEGORIES


def generated_data(task: str, world: str | None, n_per_template: int, seed: int
                   ) -> tuple[list[LabelledText], list[LabelledText]]:
    """(train, heldout) generated over ``world``'s knowledge base (or a new one from ``seed``)."""
    from kaizen.world.knowledge import KnowledgeBase

    if world:
        from kaizen.world.world import DemoWorld

        kb = DemoWorld.load(world).kb
    else:
        kb = KnowledgeBase.generate(60, 0.25, random.Random(seed))
    if task == "moderation":
        from kaizen.safety.moderation_data import moderation_dataset

        return moderation_dataset(kb, n_per_template, seed)
    from kaizen.safety.attacks import detector_dataset

    return detector_dataset(kb, n_per_template, seed)


def train(cfg: ModerationTrainConfig):
    """Train, save ``out/model`` (+ the data used) and return the loaded TextClassifier."""
    from kaizen.safety.classifier import ClassifierSettings, train_classifier

    if not cfg.base:
        raise ConfigError("config key 'base': a base model (hub id or directory) is required")
    if cfg.members < 1:
        raise ConfigError(f"config key 'members': at least 1 classifier, got {cfg.members}")
    labels = categories_for(cfg.task)
    out = Path(cfg.out)
    gen_train, gen_heldout = ([], []) if cfg.data and cfg.heldout else generated_data(
        cfg.task, cfg.world, cfg.n_per_template, cfg.seed)
    train_items = read_labelled(cfg.data, labels) if cfg.data else gen_train
    heldout_items = read_labelled(cfg.heldout, labels) if cfg.heldout else gen_heldout
    write_labelled(out / "train.jsonl", train_items)
    write_labelled(out / "heldout.jsonl", heldout_items)
    print(f"moderation: {len(train_items)} training texts, {len(heldout_items)} held out, {len(labels)} "
          f"categories, base {cfg.base}, {cfg.members} member(s)", file=sys.stderr)
    settings = ClassifierSettings(cfg.max_steps, cfg.batch_size, cfg.lr, min(20, cfg.max_steps // 10),
                                  cfg.max_length, cfg.precision, cfg.seed)
    return train_classifier(cfg.base, labels, train_items, settings, out, cfg.members)


def evaluate(cfg: ModerationEvalConfig, classifier=None) -> dict:
    """The report of kaizen.safety.metrics.classification_report, written as JSON and returned."""
    from kaizen.safety.classifier import TextClassifier
    from kaizen.safety.metrics import classification_report

    if classifier is None and not cfg.model:
        raise ConfigError("config key 'model': the classifier directory is required")
    clf = classifier or TextClassifier.load(cfg.model)
    model_dir = Path(cfg.model) if cfg.model else Path(clf.path)
    data = Path(cfg.data) if cfg.data else model_dir.parent / "heldout.jsonl"
    items = read_labelled(data, clf.labels)
    thresholds = parse_thresholds(cfg.thresholds, clf.labels, cfg.threshold, "thresholds")
    report = classification_report(items, clf.scores([it.text for it in items]), thresholds)
    report |= {"model": str(model_dir), "data": str(data), "thresholds": thresholds}
    out = Path(cfg.out) if cfg.out else model_dir.parent / "eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


USAGE = "usage: kaizen moderation {train,eval} [options]   (kaizen moderation train --help)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "train":
        cfg = parse_config(ModerationTrainConfig, rest, prog="kaizen moderation train")
        clf = train(cfg)
        print(f"moderation: saved {clf.path}; evaluate with `kaizen moderation eval {clf.path}`")
        return 0
    if command == "eval":
        from kaizen.safety.metrics import format_report

        cfg = parse_config(ModerationEvalConfig, rest, prog="kaizen moderation eval", positionals=["model"])
        report = evaluate(cfg)
        print(format_report(report))
        return 0
    print(f"kaizen moderation: unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2
