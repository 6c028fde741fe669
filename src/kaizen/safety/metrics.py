"""Moderation quality as pure functions: per-category precision, recall, F1 and false positives.

    report = classification_report(items, scores, thresholds={"violence": 0.4})
    report["per_category"]["violence"]["f1"], report["macro_f1"], report["benign_mention_fpr"]

A text is flagged for a category when its score reaches that category's threshold (default 0.5).
Macro F1 averages the categories that have positives in the evaluated set, so a category with
no examples neither helps nor hurts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from kaizen.safety.categories import LabelledText

DEFAULT_THRESHOLD = 0.5


def flagged_categories(scores: Mapping[str, float], thresholds: Mapping[str, float] | None = None,
                       default: float = DEFAULT_THRESHOLD) -> list[str]:
    """Categories whose score reaches their threshold, highest score first."""
    thresholds = thresholds or {}
    hits = [c for c, s in scores.items() if s >= thresholds.get(c, default)]
    return sorted(hits, key=lambda c: -scores[c])


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision and recall are 1.0 when undefined (nothing predicted / nothing to find)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def classification_report(items: Sequence[LabelledText], scores: Sequence[Mapping[str, float]],
                          thresholds: Mapping[str, float] | None = None,
                          default: float = DEFAULT_THRESHOLD) -> dict:
    """Per-category precision/recall/F1/support, macro F1, and false-positive rates on harmless
    texts (``benign_fpr``) and on harmless texts that mention a sensitive word (``benign_mention_fpr``)."""
    if len(items) != len(scores) or not items:
        raise ValueError("classification_report: need one score dict per text, and some texts")
    categories = list(scores[0])
    flags = [set(flagged_categories(s, thresholds, default)) for s in scores]
    per = {}
    for c in categories:
        tp = sum(c in f and c in it.labels for f, it in zip(flags, items))
        fp = sum(c in f and c not in it.labels for f, it in zip(flags, items))
        fn = sum(c not in f and c in it.labels for f, it in zip(flags, items))
        p, r, f1 = precision_recall_f1(tp, fp, fn)
        per[c] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "support": tp + fn}
    supported = [c for c in categories if per[c]["support"]]
    benign = [bool(f) for f, it in zip(flags, items) if not it.labels]
    mentions = [bool(f) for f, it in zip(flags, items) if it.mention]
    return {
        "per_category": per,
        "macro_f1": round(sum(per[c]["f1"] for c in supported) / max(len(supported), 1), 4),
        "benign_fpr": round(sum(benign) / len(benign), 4) if benign else None,
        "benign_mention_fpr": round(sum(mentions) / len(mentions), 4) if mentions else None,
        "n_texts": len(items), "n_benign": len(benign), "n_mentions": len(mentions),
    }


def format_report(report: dict) -> str:
    """The report as a fixed-width table (one row per category, then the summary figures)."""
    rows = [f"{'category':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"]
    for c, m in report["per_category"].items():
        rows.append(f"{c:<24} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['support']:>8d}")
    rows.append(f"macro F1 {report['macro_f1']:.3f} over {report['n_texts']} texts")
    for key, n in (("benign_fpr", "n_benign"), ("benign_mention_fpr", "n_mentions")):
        if report[key] is not None:
            rows.append(f"{key} {report[key]:.3f} ({report[n]} texts)")
    return "\n".join(rows)


def wilson_ci95(successes: int, n: int) -> tuple[float, float]:
    """Wilson's score interval for a binomial rate (z = 1.96): unlike the normal one, it stays inside
    [0, 1] and is not zero-width at 0 or n successes, the usual case for attack success rates.
    Wilson (1927), https://doi.org/10.1080/01621459.1927.10502953."""
    if n == 0:
        return 0.0, 1.0
    z, p = 1.96, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
