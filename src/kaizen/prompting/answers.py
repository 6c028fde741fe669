"""Answer extraction: the final answer out of a chain of thought, and its normal form for voting.

    extract_answer("2 boats cost 2 x 4 = 8 coins. ... The answer is 23.")   -> "23"
    split_answer("... Together 23 coins. The answer is 23.")                 -> ("... 23 coins.", "The answer is 23.")
    normalize_answer("The Fish.") -> "fish";  normalize_answer("23.0") -> "23"

Chain-of-thought prompting (Wei et al., 2022) and self-consistency (Wang et al., 2023) both read
the answer from a fixed closing phrase ("The answer is X"); without one, the last sentence is
the answer. Self-consistency votes over ``normalize_answer``: case, articles, punctuation and
number formatting do not split the vote.
"""

from __future__ import annotations

import re

_MARKERS = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:)\s*(.+?)\s*(?:[.!]\s|[.!]?$|\n)",
                      re.IGNORECASE | re.DOTALL)
_FINISH = re.compile(r"finish\[(.*?)\]", re.IGNORECASE | re.DOTALL)
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def extract_answer(text: str) -> str:
    """The final answer in ``text``: after the last "The answer is" / "Answer:" or in ``finish[...]``,
    else its last sentence (stripped of a closing period)."""
    text = text.strip()
    found = _FINISH.findall(text) or _MARKERS.findall(text)
    if found:
        return found[-1].strip().rstrip(".!").strip()
    sentences = [s for s in _SENTENCES.split(text) if s.strip()]
    return sentences[-1].strip().rstrip(".!").strip() if sentences else ""


def split_answer(text: str) -> tuple[str, str]:
    """(reasoning, final answer sentence): the sentence holding the answer marker ends the text."""
    text = text.strip()
    matches = list(re.finditer(r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:)", text, re.IGNORECASE))
    if not matches:
        return "", text
    start = matches[-1].start()
    return text[:start].strip(), text[start:].strip()


def normalize_answer(answer: str) -> str:
    """Lower case, no articles or punctuation, numbers in one form ("23.0" -> "23")."""
    a = answer.strip().lower().replace(",", " ")
    a = re.sub(r"[^\w\s.-]", " ", a)
    a = re.sub(r"\b(the|a|an)\b", " ", a)
    a = " ".join(a.split()).strip(" .")
    if _NUMBER.match(a):
        value = float(a)
        a = str(int(value)) if value.is_integer() else repr(value)
    else:  # "23 coins" -> "23": a number followed by a unit votes with the bare number
        m = re.match(r"^(-?\d+(?:\.\d+)?)\s+[a-z]+$", a)
        if m:
            a = normalize_answer(m.group(1))
    return a
