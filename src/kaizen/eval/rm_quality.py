"""How good is a reward model? Held-out accuracy, calibration, length bias, agreement per labeler.

    report = rm_quality(rankings, scores)        # scores[i][k]: the RM's reward for answer k of ranking i
    write_rm_report(report, "runs/rm")           # rm_quality.json, rm_quality.md, rm_calibration.png

Pure functions of (rankings, scores); ``kaizen rm`` calls them on its held-out rankings at the end
of training and ``kaizen eval --rm PATH --rm_data FILE`` on any rankings. Every strict pair
(w ranked above l) is one prediction: the RM says P(w > l) = σ(r_w - r_l) (the Bradley-Terry
model its loss fits, InstructGPT eq. 1).

- accuracy: share of pairs with r_w > r_l (a score tie counts as wrong), overall and per
  criterion (pairs whose judgements differ on helpful / truthful / harmless, as ``kaizen rm``'s
  eval.json counts them);
- calibration: the Brier score mean (σ(r_w - r_l) - 1)² and the expected calibration error of the
  RM's own choice: confidence max(p, 1 - p) binned in 10 equal bins over [0.5, 1], ECE = Σ_b
  (n_b / N) |accuracy_b - confidence_b| (Guo et al. 2017, eq. 3);
- length: Pearson correlation of reward and answer length (words) over all answers, and the share
  of pairs of different length where the longer answer is preferred, by the RM and by the labels
  (an RM that prefers length more than its labelers is a verbosity hack waiting for PPO);
- labelers: accuracy on each labeler's rankings (how often the RM agrees with that person).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

CRITERIA = ("helpful", "truthful", "harmless")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def strict_pairs(ranks: Sequence[int]) -> list[tuple[int, int]]:
    """(winner, loser) index pairs with a strict rank difference (1 = best)."""
    return [(i, j) for i, j in itertools.permutations(range(len(ranks)), 2) if ranks[i] < ranks[j]]


def brier_score(margins: Sequence[float]) -> float:
    """Mean (σ(m) - 1)² over pairs, ``margins`` [P] = r_w - r_l (0: perfect and confident, 0.25: coin flip)."""
    return sum((sigmoid(m) - 1.0) ** 2 for m in margins) / len(margins)


def expected_calibration_error(margins: Sequence[float], bins: int = 10) -> tuple[float, list[dict]]:
    """ECE of the RM's choice on pairs with margins [P] = r_w - r_l, and the reliability table.

    The RM picks w when m > 0 (correct) and l when m < 0; m = 0 is a coin flip (confidence 0.5,
    half correct). Confidence c = σ(|m|) in [0.5, 1] falls in one of ``bins`` equal bins.
    """
    table = [{"lo": 0.5 + 0.5 * b / bins, "hi": 0.5 + 0.5 * (b + 1) / bins, "n": 0, "conf": 0.0, "acc": 0.0}
             for b in range(bins)]
    for m in margins:
        c = sigmoid(abs(m))
        b = min(int((c - 0.5) / 0.5 * bins), bins - 1)
        table[b]["n"] += 1
        table[b]["conf"] += c
        table[b]["acc"] += 1.0 if m > 0 else 0.5 if m == 0 else 0.0
    ece = 0.0
    for row in table:
        if row["n"]:
            row["conf"] /= row["n"]
            row["acc"] /= row["n"]
            ece += row["n"] / len(margins) * abs(row["acc"] - row["conf"])
    return ece, table


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def rm_quality(rankings: Sequence, scores: Sequence[Sequence[float]], bins: int = 10) -> dict:
    """The full report (see the module docstring) from held-out ``rankings`` and the RM's ``scores``."""
    if len(rankings) != len(scores):
        raise ValueError(f"{len(rankings)} rankings but {len(scores)} score lists")
    margins: list[float] = []
    per_labeler: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    crit = {c: [0, 0] for c in CRITERIA}
    longer_rm = [0, 0]  # (RM prefers the longer answer, pairs of different length) over labelled pairs
    longer_label = [0, 0]
    lengths, rewards = [], []
    for r, s in zip(rankings, scores):
        if len(s) != r.k:
            raise ValueError(f"ranking {r.id or '?'} has {r.k} answers but {len(s)} scores")
        words = [len(a.split()) for a in r.answers]
        lengths += words
        rewards += list(s)
        for w, l in strict_pairs(r.ranks):
            m = s[w] - s[l]
            margins.append(m)
            acc = per_labeler[r.labeler]
            acc[0] += m > 0
            acc[1] += 1
            if words[w] != words[l]:
                longer_label[0] += words[w] > words[l]
                longer_label[1] += 1
        for i, j in itertools.combinations(range(r.k), 2):
            if words[i] != words[j] and s[i] != s[j]:
                longer_rm[0] += (s[i] > s[j]) == (words[i] > words[j])
                longer_rm[1] += 1
            if r.judgements is None:
                continue
            for c in CRITERIA:
                a, b = getattr(r.judgements[i], c), getattr(r.judgements[j], c)
                if a is None or b is None or a == b:
                    continue
                better, worse = (i, j) if a > b else (j, i)
                crit[c][0] += s[better] > s[worse]
                crit[c][1] += 1
    if not margins:
        raise ValueError("no strict pair in the rankings: nothing to measure the RM on")
    ece, table = expected_calibration_error(margins, bins)
    return {
        "num_rankings": len(rankings),
        "num_pairs": len(margins),
        "accuracy": sum(m > 0 for m in margins) / len(margins),
        "accuracy_per_criterion": {c: (h / t if t else None) for c, (h, t) in crit.items()},
        "pairs_per_criterion": {c: t for c, (_, t) in crit.items()},
        "brier": brier_score(margins),
        "ece": ece,
        "mean_margin": sum(margins) / len(margins),
        "reliability": table,
        "length_reward_correlation": pearson(lengths, rewards),
        "longer_preferred_by_rm": longer_rm[0] / longer_rm[1] if longer_rm[1] else None,
        "longer_preferred_by_labels": longer_label[0] / longer_label[1] if longer_label[1] else None,
        "labelers": {name: {"accuracy": h / t, "pairs": t} for name, (h, t) in sorted(per_labeler.items())},
    }


def markdown(report: dict) -> str:
    def f(v):
        return "–" if v is None else f"{v:.3f}"

    crit = report["accuracy_per_criterion"]
    lines = [
        f"Reward model on {report['num_rankings']} held-out rankings ({report['num_pairs']} pairs)", "",
        "| accuracy | helpful | truthful | harmless | Brier | ECE | corr(reward, length) | longer preferred: RM / labels |",
        "|---|---|---|---|---|---|---|---|",
        f"| {f(report['accuracy'])} | {f(crit['helpful'])} | {f(crit['truthful'])} | {f(crit['harmless'])} | "
        f"{f(report['brier'])} | {f(report['ece'])} | {f(report['length_reward_correlation'])} | "
        f"{f(report['longer_preferred_by_rm'])} / {f(report['longer_preferred_by_labels'])} |", "",
        "| labeler | RM agrees | pairs |", "|---|---|---|",
    ]
    lines += [f"| {n} | {f(v['accuracy'])} | {v['pairs']} |" for n, v in report["labelers"].items()]
    return "\n".join(lines)


def write_rm_report(report: dict, out_dir: str | Path) -> Path:
    """``rm_quality.json``, ``rm_quality.md`` and the reliability diagram ``rm_calibration.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "rm_quality.json").write_text(json.dumps(report, indent=2))
    (out_dir / "rm_quality.md").write_text(markdown(report) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["reliability"] if r["n"]]
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    ax.plot([0.5, 1.0], [0.5, 1.0], "--", color="gray", label="perfectly calibrated")
    ax.bar([(r["lo"] + r["hi"]) / 2 for r in rows], [r["acc"] for r in rows], width=0.045, alpha=0.8,
           label="accuracy per confidence bin")
    ax.plot([r["conf"] for r in rows], [r["acc"] for r in rows], "o", color="tab:red", ms=4)
    ax.set_xlim(0.5, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("RM confidence σ(|r_w - r_l|)")
    ax.set_ylabel("share of pairs the RM orders right")
    ax.set_title(f"RM calibration: ECE {report['ece']:.3f}, Brier {report['brier']:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = out_dir / "rm_calibration.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def split_scores(rankings: Sequence, flat: Sequence[float]) -> list[list[float]]:
    """Answer scores in ranking-major order -> one list per ranking."""
    out, pos = [], 0
    for r in rankings:
        out.append(list(flat[pos:pos + r.k]))
        pos += r.k
    return out


def score_rankings(rm, rankings: Sequence) -> list[list[float]]:
    """The RM's (bias-normalised) reward for every answer of every ranking (``rm``: kaizen.reward.RewardModel)."""
    flat = rm.score([r.prompt for r in rankings for _ in r.answers], [a for r in rankings for a in r.answers])
    return split_scores(rankings, flat)
