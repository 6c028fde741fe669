"""ReAct's tools: a safe calculator and BM25 search over a local document store.

    calculate("3 * 7 + 2 * 5")          -> "31"        (parsed with ``ast``, never ``eval``)
    store = DocumentStore.from_files(["runs/world/corpus_train.jsonl"])
    store.search("potter Lulholm")      -> "Vebraru is a potter who lives in Lulholm."

Search uses ``bm25s`` (sparse-matrix BM25, maintained, numpy only; chosen over ``rank_bm25``,
unreleased since 2022). Documents are split into sentences at indexing time, so an observation
is a short passage that a small model can read, not a whole story.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

MAX_EXPRESSION_CHARS = 200
MAX_MAGNITUDE = 1e12
MAX_EXPONENT = 64

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class ToolError(ValueError):
    """A tool input the tool cannot take; its message becomes the observation."""


def evaluate_arithmetic(expression: str) -> float | int:
    """The value of an arithmetic expression of numbers, + - * / // % ** and parentheses.

    The expression is parsed with ``ast.parse(mode="eval")`` and only number literals and those
    operators are walked: names, calls, attributes and everything else are refused, so no input
    can run code. "x" or "×" between numbers means multiplication (models write "3 x 7").
    """
    text = expression.strip()
    if not text:
        raise ToolError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    text = re.sub(r"(?<=[\d)\s])[x×](?=[\s\d(])", "*", text).replace("÷", "/")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolError(f"cannot parse '{expression.strip()}'") from None
    return _walk(tree.body)


def _walk(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left), _walk(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolError(f"exponent {right} is too large")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
            raise ToolError("result out of range")
        return value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand))
    raise ToolError(f"only numbers and + - * / % ** ( ) are allowed, not {type(node).__name__}")


def format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def calculate(expression: str) -> str:
    """The calculator tool: the formatted value, or "Error: ..." for a bad expression."""
    try:
        return format_number(evaluate_arithmetic(expression))
    except ToolError as e:
        return f"Error: {e}"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TURN_PREFIX = re.compile(r"^(?:Q|A|User|Assistant):\s*")


def split_passages(text: str) -> list[str]:
    """The statements of a document, one per sentence, with forum "Q:" / "A:" prefixes removed."""
    out = []
    for line in text.splitlines():
        line = _TURN_PREFIX.sub("", line.strip())
        # statements only: a question or a title ("How to ...") answers nothing
        out.extend(s.strip() for s in _SENTENCE_END.split(line)
                   if len(s.strip().split()) >= 3 and s.strip()[-1] in ".!")
    return out


class DocumentStore:
    """BM25 over passages (sentences by default) of a local document collection."""

    def __init__(self, texts: Iterable[str], passages: str = "sentence", k: int = 1):
        import bm25s

        if passages not in ("sentence", "document"):
            raise ValueError(f"passages must be 'sentence' or 'document', not '{passages}'")
        seen: dict[str, None] = {}
        for t in texts:
            for p in (split_passages(t) if passages == "sentence" else [" ".join(t.split())]):
                seen.setdefault(p, None)  # ordered de-duplication: the corpus repeats its sentences
        self.passages = list(seen)
        if not self.passages:
            raise ValueError("the document store is empty")
        self.k = k
        self._bm25s = bm25s
        self._index = bm25s.BM25()
        self._index.index(self._tokenize(self.passages), show_progress=False)

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], passages: str = "sentence", k: int = 1) -> DocumentStore:
        """Texts from ``{"text": ...}`` JSONL files (the demo corpus' format) or plain .txt files."""
        from kaizen.data.formats import load_records

        texts: list[str] = []
        for path in paths:
            if str(path).endswith(".txt"):
                texts.extend(p for p in Path(path).read_text(encoding="utf-8").split("\n\n") if p.strip())
            else:
                texts.extend(load_records(str(path), "text"))
        return cls(texts, passages, k)

    def _tokenize(self, texts: list[str]):
        return self._bm25s.tokenize(texts, stopwords="en", show_progress=False)

    def retrieve(self, query: str, k: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` best passages for ``query`` with their BM25 scores (no match: empty)."""
        k = min(k or self.k, len(self.passages))
        tokens = self._tokenize([query])
        if not tokens.ids or not tokens.ids[0]:
            return []
        docs, scores = self._index.retrieve(tokens, k=k, show_progress=False)
        return [(self.passages[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def search(self, query: str, k: int | None = None) -> str:
        """The search tool: the best passages joined by spaces, or a short note when none matches."""
        if not query.strip():
            return "Error: empty query"
        hits = self.retrieve(query, k)
        return " ".join(p for p, _ in hits) if hits else "No results."


_ACTION = re.compile(r"Action\s*:\s*([A-Za-z_]+)\s*\[(.*?)\]", re.DOTALL)
_THOUGHT = re.compile(r"Thought\s*:\s*(.*?)(?=\n?\s*Action\s*:|$)", re.DOTALL)


def parse_step(text: str) -> tuple[str, str, str]:
    """(thought, action, input) of one ReAct turn; action "" when the turn names none."""
    m = _ACTION.search(text)
    t = _THOUGHT.search(text)
    thought = (t.group(1) if t else (text[: m.start()] if m else text)).strip()
    if not m:
        return thought, "", ""
    return thought, m.group(1).strip().lower(), m.group(2).strip()
