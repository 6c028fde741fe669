"""The reward-model quality report, by hand."""

from __future__ import annotations

import math

import pytest

from kaizen.data.records import Judgement, Message, Ranking
from kaizen.eval.rm_quality import (brier_score, expected_calibration_error, pearson, rm_quality, sigmoid,
                                    write_rm_report)

P = [Message("user", "q")]


def test_brier_and_ece_by_hand():
    margins = [2.0, -1.0, 0.0]
    # Brier: (σ(2) - 1)² + (σ(-1) - 1)² + (0.5 - 1)², over 3
    s2, s1 = sigmoid(2.0), sigmoid(1.0)
    assert brier_score(margins) == pytest.approx(((s2 - 1) ** 2 + (1 - s1 - 1) ** 2 + 0.25) / 3)
    ece, table = expected_calibration_error(margins, bins=5)
    # confidences: σ(2) = 0.881 (bin 3: [0.8, 0.9), right), σ(1) = 0.731 (bin 2, wrong), 0.5 (bin 0, half right)
    assert [r["n"] for r in table] == [1, 0, 1, 1, 0]
    expected = (abs(0.5 - 0.5) + abs(0.0 - s1) + abs(1.0 - s2)) / 3
    assert ece == pytest.approx(expected)


def test_pearson_by_hand():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None


def test_report_accuracy_per_criterion_length_and_labelers():
    j = Judgement
    r1 = Ranking(P, ["a", "b b b", "c c"], [1, 2, 3], labeler="ann",
                 judgements=[j(helpful=7, truthful=True), j(helpful=3, truthful=False), j(helpful=3, truthful=True)])
    r2 = Ranking(P, ["x x", "y"], [2, 1], labeler="bo")
    scores = [[1.0, 2.0, 0.0], [0.5, 0.5]]
    rep = rm_quality([r1, r2], scores)
    # r1 pairs (w, l): (0,1) m=-1 wrong, (0,2) m=1 right, (1,2) m=2 right; r2: (1,0) m=0 wrong (a tie is wrong)
    assert rep["num_pairs"] == 4 and rep["accuracy"] == pytest.approx(2 / 4)
    assert rep["labelers"] == {"ann": {"accuracy": 2 / 3, "pairs": 3}, "bo": {"accuracy": 0.0, "pairs": 1}}
    # helpful differs on (0,1) and (0,2): RM right on (0,2) only; truthful differs on (0,1) [wrong], (1,2) [2 is
    # truthful, RM prefers 1: wrong]
    assert rep["accuracy_per_criterion"]["helpful"] == pytest.approx(0.5)
    assert rep["accuracy_per_criterion"]["truthful"] == 0.0
    assert rep["accuracy_per_criterion"]["harmless"] is None
    # lengths [1, 3, 2, 2, 1]; rewards [1, 2, 0, .5, .5]; pairs of different length where the RM is not tied:
    # (a,b): longer b scores higher -> 1; (a,c): longer c lower -> 0; (b,c): longer b higher -> 1; r2 tied -> skipped
    assert rep["longer_preferred_by_rm"] == pytest.approx(2 / 3)
    # labelled pairs of different length: a>b (shorter wins), a>c (shorter), b>c (longer), y>x (shorter)
    assert rep["longer_preferred_by_labels"] == pytest.approx(1 / 4)
    assert rep["length_reward_correlation"] == pytest.approx(pearson([1, 3, 2, 2, 1], [1, 2, 0, .5, .5]))
    assert rep["brier"] == pytest.approx(brier_score([-1.0, 1.0, 2.0, 0.0]))
    assert not math.isnan(rep["ece"])


def test_report_files(tmp_path):
    rep = rm_quality([Ranking(P, ["a", "b"], [1, 2], labeler="ann")], [[1.0, 0.0]])
    png = write_rm_report(rep, tmp_path)
    assert png.stat().st_size > 1000 and (tmp_path / "rm_quality.md").read_text().startswith("Reward model")
    with pytest.raises(ValueError, match="strict pair"):
        rm_quality([Ranking(P, ["a", "b"], [1, 1])], [[1.0, 0.0]])
