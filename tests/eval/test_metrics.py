"""Evaluation statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from kaizen.eval.metrics import (compare_scores, distinct_ngram_fraction, kl_estimate, length_controlled_ci95,
                                 length_controlled_win_rate, mean_ci95, mean_length)


def test_ci95_of_win_rates_by_hand():
    mean, (lo, hi) = mean_ci95([1.0, 0.0, 0.5, 1.0])
    # mean 0.625, sample sd = sqrt(((.375)^2*2 + (.625)^2 + (.125)^2) / 3) = 0.4787, half = 1.96 * 0.4787 / 2
    assert abs(mean - 0.625) < 1e-12
    assert abs(lo - (0.625 - 1.96 * 0.478714 / 2)) < 1e-4 and hi == 1.0  # clipped to [0, 1]
    assert mean_ci95([1.0] * 5) == (1.0, (1.0, 1.0))
    with pytest.raises(ValueError):
        mean_ci95([])


def test_pointwise_outcomes_length_and_kl():
    assert compare_scores([3, 1, 2], [1, 1, 5]) == [1.0, 0.5, 0.0]
    assert mean_length(["a b c", "d"]) == 2.0
    assert kl_estimate([-1.0, -3.0], [-2.0, -2.5]) == pytest.approx((1.0 - 0.5) / 2)


def test_length_controlled_equals_raw_when_lengths_do_not_differ():
    outcomes = [1, 1, 0, 1, 0.5, 1, 0, 1]
    raw = sum(outcomes) / len(outcomes)  # 0.6875
    assert length_controlled_win_rate(outcomes, [10] * 8, [10] * 8) == pytest.approx(raw, abs=1e-9)


def test_length_controlled_removes_a_pure_length_preference():
    # The model wins exactly when its answer is longer, as often longer as shorter: all of its
    # raw 0.5 is length, and at equal length the fitted GLM predicts a coin flip.
    longer = [12, 15, 20, 11, 8, 5, 0, 9]  # length differences +-1, 2, 5, 10: symmetric
    ref = [10] * 8
    outcomes = [1, 1, 1, 1, 0, 0, 0, 0]
    assert length_controlled_win_rate(outcomes, longer, ref) == pytest.approx(0.5, abs=1e-6)
    # Longer 6 times out of 10 and winning exactly then: raw 0.6, but mostly length.
    lens, ref10 = [12, 15, 20, 11, 13, 14, 8, 5, 0, 9], [10] * 10
    lc = length_controlled_win_rate([1] * 6 + [0] * 4, lens, ref10)
    assert 0.5 < lc < 0.6
    # The optimum by hand: the gradient in theta (sum of residuals) vanishes at sigma^-1(lc).
    outcomes = [1] * 6 + [0] * 4
    deltas = [a - b for a, b in zip(lens, ref10)]
    x = [math.tanh(d / _sd(deltas)) for d in deltas]
    theta = math.log(lc / (1 - lc))
    phi = _phi_at(theta, x, outcomes)
    assert abs(sum(y - 1 / (1 + math.exp(-(theta + phi * xi))) for y, xi in zip(outcomes, x))) < 1e-6


def _sd(v):
    m = sum(v) / len(v)
    return math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1))


def _phi_at(theta, x, y, ridge=1.0):
    """Solve the phi-equation sum((y - p) x) = ridge * phi by bisection (p depends on phi)."""
    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        g = sum((yi - 1 / (1 + math.exp(-(theta + mid * xi)))) * xi for xi, yi in zip(x, y)) - ridge * mid
        lo, hi = (mid, hi) if g > 0 else (lo, mid)
    return (lo + hi) / 2


def test_length_controlled_ci_brackets_and_is_reproducible():
    outcomes = [1, 0, 1, 1, 0.5, 1, 0, 1, 1, 0] * 3
    lens = [5, 7, 9, 3, 4, 8, 2, 6, 10, 5] * 3
    lc, (lo, hi) = length_controlled_ci95(outcomes, lens, [6] * 30, seed=3)
    assert lo <= lc <= hi and (lc, (lo, hi)) == length_controlled_ci95(outcomes, lens, [6] * 30, seed=3)


def test_distinct_ngrams():
    assert distinct_ngram_fraction(["a b c d"]) == 1.0  # 2 trigrams, both distinct
    assert distinct_ngram_fraction(["x x x x x"]) == pytest.approx(1 / 3)  # 3 trigrams, one distinct
    assert distinct_ngram_fraction(["short", "a b c d"]) == 1.0
