"""The side-by-side comparison task: "which of two answers is better, or are they equal?"

InstructGPT's headline metric was how often labelers prefer one model's output to another's;
``kaizen eval --judges human=URL`` creates these tasks (kaizen.eval.judges.human) and reads the
choices back. A submission is ``{"choice": "A" | "B" | "tie"}`` (A = the first answer shown); it
is stored with the equivalent K = 2 ``ranks`` so that ``kaizen export`` turns a strict choice into
a preference pair like any other ranking, and leaves a tie out (a ranking needs a strict pair).
"""

from __future__ import annotations

from kaizen.serve.errors import APIError

KIND = "compare"
CHOICES = ("A", "B", "tie")
RANKS = {"A": [1, 2], "B": [2, 1], "tie": [1, 1]}


def check_answers(row: int, answers: list[str] | None) -> None:
    if answers is None or len(answers) != 2:
        got = "none" if answers is None else len(answers)
        raise APIError(400, f"row {row + 1}: a compare task needs exactly 2 'answers', got {got}", param="rows")


def result(choice: str | None, comment: str = "") -> dict:
    """The stored result of a comparison; a missing or unknown choice is a 400 naming the field."""
    if choice not in CHOICES:
        raise APIError(400, f"a comparison needs 'choice': one of {list(CHOICES)} (A = the first answer shown)",
                       param="choice")
    return {"choice": choice, "ranks": RANKS[choice], "comment": comment}


def is_strict(res: dict) -> bool:
    """Whether a stored comparison prefers one answer (a tie gives no training pair)."""
    return res.get("choice") in ("A", "B")
