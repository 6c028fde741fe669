"""Pretraining text with numbers in it: the arithmetic a small model must know before SFT can teach
it to reason step by step.

The world's corpus has almost no digits, so a model pretrained on it alone cannot compute
``4 x 6 = 24`` however its answer is formatted, and no prompting strategy can help it
(chain-of-thought only helps a model that can do each step). These documents state the steps the
reasoning tasks use, and nothing about the world: products of a quantity and a price, sums of two
such products, calculator expressions, and distances between weekdays. No entity, town, market
day or price of the world appears, so no held-out fact leaks; held-out tasks differ from train
ones by their combinations, and a combination's answer is never written here (only its parts).
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def _product(q: int, p: int, goods: str, rng: random.Random) -> str:
    return rng.choice((
        f"{q} x {p} = {q * p}.",
        f"{q} {goods} at {p} coins each cost {q} x {p} = {q * p} coins.",
        f"{q} times {p} is {q * p}.",
        f"{q} * {p} = {q * p}.",
    ))


def _sum(a: int, b: int, rng: random.Random) -> str:
    return rng.choice((f"{a} + {b} = {a + b}.", f"{a} and {b} make {a + b}.", f"{a} + {b} = {a + b}.",
                       f"Together that is {a} + {b} = {a + b} coins."))


def _days(days: Sequence[str], i: int, j: int) -> str:
    n = (j - i) % 7
    return f"From {days[i].capitalize()} to {days[j].capitalize()} is {n} day{'s' if n != 1 else ''}."


def arithmetic_documents(n_docs: int, goods: Sequence[str], days: Sequence[str], max_quantity: int,
                         max_price: int, rng: random.Random, lines: tuple[int, int] = (3, 7)) -> list[dict]:
    """``n_docs`` documents of ``{"text"}``, each a few arithmetic statements.

    A sum is only ever written of a single product and a number, never as one statement of a
    whole purchase (``q1 x p1 + q2 x p2``) with its total: that is the held-out task's answer."""
    qs, ps = range(2, max_quantity + 1), range(2, max_price + 1)
    products = sorted({q * p for q in qs for p in ps})
    docs = []
    for _ in range(n_docs):
        out = []
        for _ in range(rng.randint(*lines)):
            kind = rng.random()
            if kind < 0.4:
                out.append(_product(rng.choice(qs), rng.choice(ps), rng.choice(goods), rng))
            elif kind < 0.8:
                out.append(_sum(rng.choice(products), rng.choice(products), rng))
            else:
                out.append(_days(days, rng.randrange(7), rng.randrange(7)))
        docs.append({"text": " ".join(out)})
    return docs
