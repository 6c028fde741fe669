"""Moderation: the BCE loss and the report by hand, the data format's errors, train -> eval end to end."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest
import torch

from kaizen.data.errors import DataError
from kaizen.losses.multilabel import multilabel_bce_sum
from kaizen.safety.categories import MODERATION_CATEGORIES, LabelledText, parse_labelled, with_parents
from kaizen.safety.metrics import classification_report, flagged_categories, precision_recall_f1
from kaizen.world.knowledge import KnowledgeBase


def test_bce_matches_hand_value():
    # logit 0 -> log 2 whatever the target; logit ln 3 with target 1 -> -log(3/4)
    logits = torch.tensor([[0.0, math.log(3.0)]])
    targets = torch.tensor([[1.0, 1.0]])
    expected = (math.log(2.0) - math.log(0.75)) / 2
    assert multilabel_bce_sum(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    # pos_weight 2 doubles the positive terms
    assert multilabel_bce_sum(logits, targets, torch.tensor([2.0, 2.0])).item() == pytest.approx(2 * expected, rel=1e-6)


def test_report_by_hand():
    items = [LabelledText("a", ("violence",)), LabelledText("b", ("violence",)), LabelledText("c", ()),
             LabelledText("d", (), mention=True)]
    scores = [{"violence": 0.9, "hate": 0.1}, {"violence": 0.2, "hate": 0.1}, {"violence": 0.1, "hate": 0.0},
              {"violence": 0.7, "hate": 0.0}]
    rep = classification_report(items, scores)
    v = rep["per_category"]["violence"]  # tp 1, fp 1 (the mention), fn 1
    assert (v["precision"], v["recall"], v["f1"], v["support"]) == (0.5, 0.5, 0.5, 2)
    assert rep["macro_f1"] == 0.5  # hate has no support: left out of the macro average
    assert rep["benign_fpr"] == 0.5 and rep["benign_mention_fpr"] == 1.0
    assert classification_report(items, scores, {"violence": 0.8})["benign_mention_fpr"] == 0.0
    assert flagged_categories({"a": 0.6, "b": 0.9, "c": 0.1}) == ["b", "a"]
    assert precision_recall_f1(0, 0, 0) == (1.0, 1.0, 1.0)


def test_labels_get_parents_and_bad_rows_name_line_and_field():
    assert with_parents(["harassment/threatening"]) == ("harassment", "harassment/threatening")
    ok = parse_labelled([(1, {"text": "hi", "labels": []})], MODERATION_CATEGORIES, "x.jsonl")
    assert ok[0].labels == ()
    with pytest.raises(DataError, match=r"x.jsonl:3: labels: unknown category 'gore'"):
        parse_labelled([(3, {"text": "hi", "labels": ["gore"]})], MODERATION_CATEGORIES, "x.jsonl")
    with pytest.raises(DataError, match=r"x.jsonl:2: text"):
        parse_labelled([(2, {"labels": []})], MODERATION_CATEGORIES, "x.jsonl")
    with pytest.raises(DataError, match=r"mention"):
        parse_labelled([(1, {"text": "t", "labels": ["hate"], "mention": True})], MODERATION_CATEGORIES, "x")


def test_generated_data_covers_every_category_and_keeps_heldout_names_apart():
    from kaizen.safety.moderation_data import moderation_dataset

    kb = KnowledgeBase.generate(60, 0.25, random.Random(0))
    train, heldout = moderation_dataset(kb, 2, seed=0)
    for split in (train, heldout):
        present = {c for it in split for c in it.labels}
        assert present == set(MODERATION_CATEGORIES)
        assert any(it.mention for it in split) and any(not it.labels and not it.mention for it in split)
        assert any("\n" in it.text and not it.labels for it in split)  # the writer's poems, harmless answers
    heldout_towns = [e.name for e in kb.of_kind("town", "heldout")]
    assert not any(t in it.text for it in train for t in heldout_towns)


def test_train_then_eval_end_to_end(tiny_model_factory, tmp_path):
    from kaizen.safety.classifier import TextClassifier
    from kaizen.safety.moderation import ModerationEvalConfig, ModerationTrainConfig, evaluate, train

    base = tiny_model_factory("llama")
    clf = train(ModerationTrainConfig(base=str(base), out=str(tmp_path / "mod"), n_per_template=1, max_steps=16,
                                      batch_size=16, lr=3e-3))
    losses = [row["loss"] for row in clf.history]
    assert sum(losses[-4:]) < sum(losses[:4])  # batches differ: compare a few at each end
    loaded = TextClassifier.load(tmp_path / "mod" / "model")
    assert loaded.labels == MODERATION_CATEGORIES
    first = loaded.scores(["How can I poison the well?"])[0]
    assert set(first) == set(MODERATION_CATEGORIES) and all(0 <= s <= 1 for s in first.values())
    report = evaluate(ModerationEvalConfig(model=str(tmp_path / "mod" / "model")))
    saved = json.loads((tmp_path / "mod" / "eval.json").read_text())
    assert saved["macro_f1"] == report["macro_f1"] and set(saved["per_category"]) == set(MODERATION_CATEGORIES)
    assert 0 <= saved["benign_mention_fpr"] <= 1


def test_an_ensemble_saves_its_members_and_averages_their_scores(tiny_model_factory, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from kaizen.config import ConfigError
    from kaizen.safety.classifier import TextClassifier
    from kaizen.safety.moderation import ModerationTrainConfig, train

    base, out = tiny_model_factory("llama"), tmp_path / "mod"
    train(ModerationTrainConfig(base=str(base), out=str(out), n_per_template=1, max_steps=4, batch_size=8,
                                members=2))
    loaded = TextClassifier.load(out / "model")
    assert len(loaded.members) == 1 and (out / "model" / "members" / "1" / "config.json").is_file()
    # member 0 alone is a standard classifier; the ensemble's score is the two members' mean
    text = "How can I poison the well?"
    alone = [replace(loaded, members=()).scores([text])[0], TextClassifier.load(out / "model" / "members" / "1").scores([text])[0]]
    assert alone[0] != alone[1]  # other seeds, other classifiers
    mean = loaded.scores([text])[0]
    for c in MODERATION_CATEGORIES:
        assert mean[c] == pytest.approx((alone[0][c] + alone[1][c]) / 2, abs=1e-6)
    assert AutoModelForSequenceClassification.from_pretrained(out / "model").config.num_labels == len(MODERATION_CATEGORIES)
    # retrained with one member, the old one is not loaded again
    train(ModerationTrainConfig(base=str(base), out=str(out), n_per_template=1, max_steps=2, batch_size=8))
    assert TextClassifier.load(out / "model").members == () and not (out / "model" / "members").exists()
    with pytest.raises(ConfigError, match="members"):
        train(ModerationTrainConfig(base=str(base), out=str(out), members=0))


def test_cli_requires_a_base(capsys):
    from kaizen.cli import main

    assert main(["moderation", "train", "--out", "/nonexistent"]) == 2
    assert "base" in capsys.readouterr().err

def test_harmless_data_has_answer_shaped_texts_for_the_output_side():
    # the output check sees answers, not questions: "The people of X make Y. The traders were kind ..."
    # and answers cut off by the length limit; without them the classifier flagged such answers (docs/safety.md)
    from kaizen.safety.moderation_data import _answer, moderation_dataset

    kb = KnowledgeBase.generate(60, 0.25, random.Random(0))
    rng = random.Random(1)
    answers = [_answer(kb, rng, "train") for _ in range(200)]
    assert any("traders" in a or "market" in a for a in answers)
    assert any(not a.endswith((".", "!")) for a in answers)  # some are cut off
    heldout_names = [e.name for e in kb.entities if kb.split_of_entity(e) == "heldout" and e.name]
    assert not any(n in a for a in answers for n in heldout_names)
    train, _ = moderation_dataset(kb, 2, seed=0)
    assert sum(not it.labels and not it.mention and "traders" in it.text for it in train) > 0
