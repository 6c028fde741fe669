"""Evaluation statistics as pure functions: win rates with 95% CIs, length control, KL, length.

    mean_ci95([1, 0, 0.5, 1])                       # (0.625, (0.156, 1.0))
    length_controlled_win_rate(outcomes, len_model, len_ref)

A *win-rate outcome* is one number per prompt: 1 the model's answer wins against the
reference's, 0 it loses, 0.5 a tie; judges that look twice (both answer orders) or several
labelers average their verdicts into values in between.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mean_ci95(outcomes: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Mean of per-prompt outcomes with a normal-approximation 95% CI, clipped to [0, 1].

    mean ± 1.96 · s / √n with s the sample standard deviation: the central limit theorem over
    prompts. Kept (rather than Wilson's interval) because outcomes are not Bernoulli: ties and
    averaged verdicts take values between 0 and 1, which Wilson's score interval does not model.
    """
    n = len(outcomes)
    if n == 0:
        raise ValueError("mean_ci95: no outcomes")
    mean = sum(outcomes) / n
    var = sum((o - mean) ** 2 for o in outcomes) / max(n - 1, 1)
    half = 1.96 * math.sqrt(var / n)
    return mean, (max(0.0, mean - half), min(1.0, mean + half))


def compare_scores(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Outcomes of pointwise scores: 1 where ``a`` scores higher, 0 lower, 0.5 equal."""
    return [1.0 if x > y else 0.0 if x < y else 0.5 for x, y in zip(a, b, strict=True)]


def word_count(text: str) -> int:
    return len(text.split())


def mean_length(texts: Sequence[str]) -> float:
    """Mean answer length in whitespace words (verbosity; comparable across tokenizers)."""
    return sum(word_count(t) for t in texts) / max(len(texts), 1)


def kl_estimate(logp: Sequence[float], logp_ref: Sequence[float]) -> float:
    """Monte-Carlo KL(π || π_ref) in nats per answer from answers sampled by π.

    ``logp`` / ``logp_ref``: [N] summed log-probabilities of each of π's own answers under π and
    under the reference. E_y~π[log π(y) - log π_ref(y)] is the KL; its sample mean is unbiased.
    """
    if len(logp) != len(logp_ref) or not logp:
        raise ValueError("kl_estimate: need equally many (and some) log-probabilities")
    return sum(a - b for a, b in zip(logp, logp_ref)) / len(logp)


def _fit_length_glm(y: np.ndarray, x: np.ndarray, ridge: float, iters: int = 50) -> tuple[float, float]:
    """(θ, φ) maximising Σ y log σ(θ + φx) + (1 - y) log(1 - σ(θ + φx)) - ridge/2 · φ² (Newton).

    ``y`` are soft labels in [0, 1]. θ is clipped to ±20 (all wins or all losses have no finite optimum).
    """
    theta, phi = 0.0, 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(theta + phi * x)))
        w = p * (1.0 - p)
        g = np.array([np.sum(y - p), np.sum((y - p) * x) - ridge * phi])
        h = np.array([[np.sum(w) + 1e-9, np.sum(w * x)], [np.sum(w * x), np.sum(w * x * x) + ridge]])
        step = np.linalg.solve(h, g)
        theta, phi = float(np.clip(theta + step[0], -20, 20)), float(phi + step[1])
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta, phi


def length_controlled_win_rate(outcomes: Sequence[float], len_model: Sequence[float], len_ref: Sequence[float],
                               ridge: float = 1.0) -> float:
    """Win rate with the length difference regressed out, after AlpacaEval 2's LC win rate.

    AlpacaEval 2 (Dubois et al. 2024, "Length-Controlled AlpacaEval", eq. 2) fits a GLM
    ``P(model wins | x) = σ(θ + φ · tanh(Δ / std(Δ)) + ψ · γ_x)`` with Δ the length difference
    of the two answers and γ_x an instruction-difficulty term fitted across many models, then
    reports σ(θ): the win rate predicted at zero length difference. With one model against one
    reference the difficulty term cannot be fitted, so it is left out (the simpler regression):
    ``outcomes`` [N] are the soft labels, ``len_model`` / ``len_ref`` [N] the answers' lengths,
    ``ridge`` an L2 penalty on φ (AlpacaEval regularises the length weight too). Equal lengths
    everywhere give φ = 0 and σ(θ) = the raw win rate.
    """
    y = np.asarray(outcomes, dtype=np.float64)
    delta = np.asarray(len_model, dtype=np.float64) - np.asarray(len_ref, dtype=np.float64)
    if y.shape != delta.shape or y.size == 0:
        raise ValueError("length_controlled_win_rate: outcomes and lengths must have the same, non-zero length")
    sd = float(delta.std(ddof=1)) if delta.size > 1 else 0.0
    x = np.tanh(delta / sd) if sd > 0 else np.zeros_like(delta)
    theta, _ = _fit_length_glm(y, x, ridge)
    return float(1.0 / (1.0 + math.exp(-theta)))


def bootstrap_ci95(stat, n: int, resamples: int = 200, seed: int = 0) -> tuple[float, float]:
    """2.5% and 97.5% percentiles of ``stat(indices)`` over bootstrap resamples of n items."""
    rng = np.random.default_rng(seed)
    values = sorted(stat(rng.integers(0, n, n)) for _ in range(resamples))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def length_controlled_ci95(outcomes: Sequence[float], len_model: Sequence[float], len_ref: Sequence[float],
                           resamples: int = 200, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """The LC win rate and a percentile-bootstrap 95% CI over prompts."""
    y, a, b = (np.asarray(v, dtype=np.float64) for v in (outcomes, len_model, len_ref))
    lc = length_controlled_win_rate(y, a, b)
    lo, hi = bootstrap_ci95(lambda idx: length_controlled_win_rate(y[idx], a[idx], b[idx]), len(y), resamples, seed)
    return lc, (lo, hi)


def distinct_ngram_fraction(texts: Sequence[str], n: int = 3) -> float:
    """Share of each answer's word n-grams that are distinct, averaged over answers (1: no repeats).

    Reward over-optimisation shows as repeated phrases ("very very very"): this falls.
    Answers shorter than n words count as 1.
    """
    fractions = []
    for t in texts:
        w = t.split()
        grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
        fractions.append(len(set(grams)) / len(grams) if grams else 1.0)
    return sum(fractions) / max(len(fractions), 1)
