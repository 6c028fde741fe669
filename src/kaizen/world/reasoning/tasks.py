"""Reasoning and look-up tasks about the demo world: the items, their demonstrations, the checker.

Families (``meta["family"]``) and their templates (``meta["template"]``):

| family | template | example | what helps |
|---|---|---|---|
| arithmetic | market_total | "At the stall of Nulu, boats cost 4 coins each and hats cost 3 coins each. How many coins do 2 boats and 3 hats cost?" | reasoning in steps |
| arithmetic | market_days | "How many days after the market day of Lulholm is the market day of Brindleford?" | recalling both days, then counting |
| multihop | pet_attr | "What does the pet of Tamora eat?" | one hop at a time |
| multihop | home_attr | "On which day is the market in the town where Tamora lives?" | one hop at a time |
| multihop | job_town | "What does the pet of the potter of Lulholm eat?" | search (a reverse look-up) |
| lookup | price | "How many coins do boats cost at the market in Lulholm?" | search: prices are in no training text |
| lookup | price_total | "How many coins do 3 boats cost at the market in Lulholm?" | search, then the calculator |

Market prices are new facts, added beside the knowledge base (``Ledger``): they are stated only
in the document store (``store_reasoning.jsonl``), never in the pretraining corpus, so a
held-out price is knowable only by searching. Demonstrations come in four formats: ``direct``
("The answer is 23."), ``cot`` (question + "Let's think step by step." -> steps -> "The answer is
23."), ``react`` (Thought / Action / Observation turns, observations from the real search tool)
and ``knowledge`` (generated-knowledge prompting's two steps).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from kaizen.prompting import cot, generated_knowledge, react
from kaizen.prompting.answers import extract_answer, normalize_answer
from kaizen.world import lexicon as lx
from kaizen.world.knowledge import Entity, KnowledgeBase
from kaizen.world.prompts import PromptItem
from kaizen.data.records import Message

FAMILIES = ("arithmetic", "multihop", "lookup")
TEMPLATES = {"arithmetic": ("market_total", "market_days"), "multihop": ("pet_attr", "home_attr", "job_town"),
             "lookup": ("price", "price_total")}
# Goods sold by the piece (a town's product as a countable noun).
GOODS = {"bells": "bells", "lanterns": "lanterns", "boats": "boats", "carpets": "carpets", "clocks": "clocks",
         "candles": "candles", "hats": "hats", "cheese": "cheeses", "pottery": "pots", "glass": "glasses"}
DAYS = lx.DOMAINS["day"]

PET_QUESTIONS = {"food": ("What does the pet of {p} eat?", "What does {p}'s pet eat?"),
                 "color": ("What color is the pet of {p}?", "What color is {p}'s pet?"),
                 "habitat": ("Where does the pet of {p} live?", "Where does {p}'s pet live?"),
                 "sound": ("What sound does the pet of {p} make?", "What sound does {p}'s pet make?"),
                 "size": ("How big is the pet of {p}?", "How big is {p}'s pet?")}
HOME_QUESTIONS = {"day": ("On which day is the market in the town where {p} lives?",
                          "What day is market day in the home town of {p}?"),
                  "product": ("What is the town where {p} lives known for?", "What is the home town of {p} known for?"),
                  "region": ("In which part of the land is the town where {p} lives?",
                             "In which part of the land is the home town of {p}?")}
JOB_QUESTIONS = {"food": "What does the pet of the {job} of {t} eat?", "color": "What color is the pet of the {job} of {t}?",
                 "habitat": "Where does the pet of the {job} of {t} live?"}
# Words a search for an attribute is built from (they occur in the corpus' fact sentences).
QUERY_WORDS = {"food": ("eats", "food", "feeds"), "color": ("fur", "coat", "color"), "habitat": ("lives", "home", "find"),
               "sound": ("night", "hear", "sound"), "size": ("animal", "creature", "grown"), "pet": ("pet", "keeps"),
               "home": ("lives", "comes from", "house"), "day": ("market", "market day", "holds"),
               "product": ("known for", "make", "famous"), "region": ("lies", "town in", "land")}
# How a CoT step states a fact (the corpus' own phrasing, so the model can recall it).
STATE = {"food": "{S} eats {v}.", "color": "{S} is {v}.", "habitat": "{S} lives in the {v}.", "sound": "{S} {v}.",
         "size": "{S} is {v}.", "day": "The market in {s} is on {v}.", "product": "{S} is known for its {v}.",
         "region": "{S} lies in the {v}."}


@dataclass(frozen=True)
class Ledger:
    """Market prices: (town key, good) -> coins. New facts, additive to the knowledge base."""

    prices: dict[tuple[str, str], int]

    @classmethod
    def generate(cls, kb: KnowledgeBase, goods_per_town: int, low: int, high: int, rng: random.Random) -> Ledger:
        prices = {}
        for town in kb.of_kind("town"):
            own = [town.attrs["product"]] if town.attrs["product"] in GOODS else []
            others = [g for g in GOODS if g not in own]
            for good in own + rng.sample(others, goods_per_town - len(own)):
                prices[(town.key, good)] = rng.randint(low, high)
        return cls(prices)

    def notice(self, kb: KnowledgeBase, town: str, good: str) -> str:
        return f"Market price in {kb.get(town).name}: {GOODS[good]} cost {self.prices[(town, good)]} coins each."

    def to_rows(self) -> list[list]:
        return [[t, g, p] for (t, g), p in sorted(self.prices.items())]

    @classmethod
    def from_rows(cls, rows: list[list]) -> Ledger:
        return cls({(t, g): int(p) for t, g, p in rows})


def days_between(a: str, b: str) -> int:
    """Days from weekday ``a`` forward to weekday ``b`` (1..6; 0 when equal)."""
    return (DAYS.index(b) - DAYS.index(a)) % 7


# ---- items -----------------------------------------------------------------------------------

def _item(family: str, template: str, question: str, answer: str, kind: str, domain: str | None,
          steps: list[dict], split: str) -> tuple[list[Message], dict[str, Any]]:
    meta = {"family": family, "template": template, "answer": answer, "answer_kind": kind, "domain": domain,
            "steps": steps, "split": split}
    return [Message("user", question)], meta


def market_total(people: list[Entity], combo: tuple[str, int, int, str, int, int], split: str, rng: random.Random):
    g1, q1, p1, g2, q2, p2 = combo
    who = rng.choice(people).name
    question = rng.choice((
        "At the stall of {w}, {G1} cost {p1} coins each and {G2} cost {p2} coins each. How many coins do {q1} {G1} and {q2} {G2} cost?",
        "{w} sells {G1} for {p1} coins each and {G2} for {p2} coins each. How many coins do {q1} {G1} and {q2} {G2} cost?",
    )).format(w=who, G1=GOODS[g1], G2=GOODS[g2], p1=p1, p2=p2, q1=q1, q2=q2)
    steps = [{"op": "mul", "a": q1, "b": p1, "good": GOODS[g1]}, {"op": "mul", "a": q2, "b": p2, "good": GOODS[g2]}]
    return _item("arithmetic", "market_total", question, str(q1 * p1 + q2 * p2), "number", None, steps, split)


def market_days(kb: KnowledgeBase, a: Entity, b: Entity, split: str, rng: random.Random):
    question = rng.choice(("How many days after the market day of {a} is the market day of {b}?",
                           "The market in {a} is held first. How many days later is the market in {b}?")
                          ).format(a=a.name, b=b.name)
    steps = [{"entity": a.key, "attr": "day"}, {"entity": b.key, "attr": "day"}]
    return _item("arithmetic", "market_days", question, str(days_between(a.attrs["day"], b.attrs["day"])), "number",
                 None, steps, split)


def pet_attr(kb: KnowledgeBase, person: Entity, attr: str, split: str, rng: random.Random):
    pet = kb.get(person.attrs["pet"])
    question = rng.choice(PET_QUESTIONS[attr]).format(p=person.name)
    steps = [{"entity": person.key, "attr": "pet"}, {"entity": pet.key, "attr": attr}]
    return _item("multihop", "pet_attr", question, pet.attrs[attr], "value", attr, steps, split)


def home_attr(kb: KnowledgeBase, person: Entity, attr: str, split: str, rng: random.Random):
    town = kb.get(person.attrs["home"])
    question = rng.choice(HOME_QUESTIONS[attr]).format(p=person.name)
    steps = [{"entity": person.key, "attr": "home"}, {"entity": town.key, "attr": attr}]
    return _item("multihop", "home_attr", question, town.attrs[attr], "value", attr, steps, split)


def job_town(kb: KnowledgeBase, person: Entity, attr: str, split: str, rng: random.Random):
    pet, town = kb.get(person.attrs["pet"]), kb.get(person.attrs["home"])
    question = JOB_QUESTIONS[attr].format(job=person.attrs["job"], t=town.name)
    steps = [{"entity": person.key, "attr": "job_town"}, {"entity": person.key, "attr": "pet"},
             {"entity": pet.key, "attr": attr}]
    return _item("multihop", "job_town", question, pet.attrs[attr], "value", attr, steps, split)


def price(kb: KnowledgeBase, ledger: Ledger, town: str, good: str, quantity: int | None, split: str,
          rng: random.Random):
    name, p = kb.get(town).name, ledger.prices[(town, good)]
    if quantity is None:
        question = rng.choice(("How many coins do {g} cost at the market in {t}?",
                               "What is the price of {g} at the market in {t}?")).format(g=GOODS[good], t=name)
        return _item("lookup", "price", question, str(p), "number", None,
                     [{"town": town, "good": good}], split)
    question = rng.choice(("How many coins do {q} {g} cost at the market in {t}?",
                           "At the market in {t}, how many coins do {q} {g} cost?")).format(q=quantity, g=GOODS[good], t=name)
    return _item("lookup", "price_total", question, str(quantity * p), "number", None,
                 [{"town": town, "good": good, "quantity": quantity}], split)


# ---- demonstrations --------------------------------------------------------------------------

class Demonstrator:
    """Writes each item's demonstration in a given format; ReAct observations come from ``search``."""

    def __init__(self, kb: KnowledgeBase, ledger: Ledger, search):
        self.kb, self.ledger, self.search = kb, ledger, search

    def _state(self, key: str, attr: str) -> str:
        e = self.kb.get(key)
        v = self.kb.value_text(attr, e.attrs[attr])
        if attr in ("pet", "home", "job"):
            return {"pet": f"{e.name} keeps a {v} as a pet.", "home": f"{e.name} lives in {v}.",
                    "job": f"{e.name} is a {v}."}[attr]
        text = STATE[attr].format(S=e.ref(cap=True), s=e.ref(), v=v)
        return text[0].upper() + text[1:]

    def facts(self, item: PromptItem) -> list[str]:
        """The facts a chain of thought states, in order."""
        m, out = item.meta, []
        if m["template"] == "market_total":
            for s in m["steps"]:
                out.append(f"{s['a']} {s['good']} cost {s['a']} x {s['b']} = {s['a'] * s['b']} coins.")
            a, b = (s["a"] * s["b"] for s in m["steps"])
            out.append(f"Together that is {a} + {b} = {a + b} coins.")
            return out
        for s in m["steps"]:
            if s.get("attr") == "job_town":
                p = self.kb.get(s["entity"])
                out.append(f"The {p.attrs['job']} of {self.kb.get(p.attrs['home']).name} is {p.name}.")
            elif "town" in s:
                out.append(self.ledger.notice(self.kb, s["town"], s["good"]))
                if "quantity" in s:
                    p = self.ledger.prices[(s["town"], s["good"])]
                    out.append(f"{s['quantity']} {GOODS[s['good']]} cost {s['quantity']} x {p} = {s['quantity'] * p} coins.")
            else:
                out.append(self._state(s["entity"], s["attr"]))
        if m["template"] == "market_days":
            a, b = (self.kb.value_text("day", self.kb.get(s["entity"]).attrs["day"]) for s in m["steps"])
            out.append(f"From {a} to {b} is {m['answer']} {'day' if m['answer'] == '1' else 'days'}.")
        return out

    def final(self, item: PromptItem) -> str:
        return f"The answer is {self._answer_text(item)}."

    def _answer_text(self, item: PromptItem) -> str:
        a = item.meta["answer"]
        return a.capitalize() if item.meta.get("domain") == "day" else a

    def direct(self, item: PromptItem) -> list[list[dict]]:
        return [[*_dicts(item), {"role": "assistant", "content": self.final(item)}]]

    def cot(self, item: PromptItem) -> list[list[dict]]:
        prompt = cot.with_trigger(_dicts(item))
        return [[*prompt, {"role": "assistant", "content": " ".join(self.facts(item) + [self.final(item)])}]]

    def knowledge(self, item: PromptItem) -> list[list[dict]]:
        facts = " ".join(f for f in self.facts(item) if "=" not in f and not f.startswith("From "))
        return [[*generated_knowledge.knowledge_prompt(_dicts(item)), {"role": "assistant", "content": facts}],
                [*generated_knowledge.answer_prompt(_dicts(item), facts), {"role": "assistant", "content": self.final(item)}]]

    def react(self, item: PromptItem) -> list[list[dict]] | None:
        """A ReAct transcript whose every search really returns the needed fact, else None."""
        m, turns = item.meta, []
        if m["template"] == "market_total":
            (s1, s2) = m["steps"]
            expr = f"{s1['a']} * {s1['b']} + {s2['a']} * {s2['b']}"
            turns.append(("I need the cost of both purchases.", "calculate", expr))
        else:
            for s in m["steps"]:
                found = self._find(s)
                if found is None:
                    return None
                turns.append(found)
            if m["template"] == "price_total":
                s = m["steps"][0]
                turns.append((f"{GOODS[s['good']].capitalize()} cost {self.ledger.prices[(s['town'], s['good'])]} coins each.",
                               "calculate", f"{s['quantity']} * {self.ledger.prices[(s['town'], s['good'])]}"))
        conv = react.start(_dicts(item))
        for thought, action, arg in turns:
            observation = self.search(arg) if action == "search" else react.run_tool({"calculate": _calc}, action, arg)
            conv += [{"role": "assistant", "content": f"Thought: {thought}\nAction: {action}[{arg}]"},
                     {"role": "user", "content": react.OBSERVATION.format(observation)}]
        done = self._done_thought(item)
        conv.append({"role": "assistant", "content": f"Thought: {done}\nAction: finish[{self._answer_text(item)}]"})
        return [conv]

    def _done_thought(self, item: PromptItem) -> str:
        if item.meta["template"] == "market_days":
            return self.facts(item)[-1]
        if item.meta["answer_kind"] == "number":
            return f"The answer is {item.meta['answer']}."
        return self.facts(item)[-1]

    def _find(self, s: dict) -> tuple[str, str, str] | None:
        """(thought, "search", query) whose top passage states the step's fact."""
        if "town" in s:
            t, g = self.kb.get(s["town"]), GOODS[s["good"]]
            options, need = [f"price {g} {t.name}", f"{g} {t.name} price"], [t.name.lower(), g, str(self.ledger.prices[(s['town'], s['good'])])]
            thought = f"I need the price of {g} in {t.name}."
        elif s["attr"] == "job_town":
            p = self.kb.get(s["entity"])
            town = self.kb.get(p.attrs["home"]).name
            options, need = [f"{p.attrs['job']} {town}", f"{p.attrs['job']} lives {town}"], [p.key, p.attrs["job"], town.lower()]
            thought = f"I need to find the {p.attrs['job']} of {town}."
        else:
            e, attr = self.kb.get(s["entity"]), s["attr"]
            value = self.kb.value_text(attr, e.attrs[attr]).lower()
            options = [f"{e.name} {w}" for w in QUERY_WORDS[attr]] + [e.name]
            need = [e.key, value]
            thought = (f"I need to know what the {e.name} eats." if attr == "food" else
                       f"I need to know the pet of {e.name}." if attr == "pet" else
                       f"I need to know where {e.name} lives." if attr == "home" else
                       f"I need to know the {attr} of {e.ref()}." if e.kind == "creature" else
                       f"I need to know the {'market day' if attr == 'day' else attr} of {e.name}.")
        for q in options:
            words = set(re.findall(r"[a-z0-9]+", self.search(q).lower()))
            if all(all(part in words for part in n.split()) for n in need):
                return thought, "search", q
        return None


def _calc(expr: str) -> str:
    from kaizen.prompting.tools import calculate

    return calculate(expr)


def _dicts(item: PromptItem) -> list[dict]:
    return [m.to_dict() for m in item.messages]


# ---- checking --------------------------------------------------------------------------------

def check(item: PromptItem, answer: str) -> bool:
    """Is ``answer`` (a final answer, or a whole reply to extract it from) the item's right answer?

    Numbers must be equal. A value (``fish``, ``friday``) must be named by one of its surface
    forms, and no other value of the same attribute may be named with it ("fish or nuts" is wrong).
    """
    gold = item.meta["answer"]
    text = normalize_answer(extract_answer(answer) if len(answer.split()) > 6 else answer)
    if item.meta["answer_kind"] == "number":
        numbers = re.findall(r"-?\d+", text)
        return len(numbers) >= 1 and numbers[0] == gold and len(set(numbers)) == 1
    words = re.findall(r"[a-z]+", text)
    domain = item.meta["domain"]
    named = {lx.VALUE_WORDS[w][1] for w in words if w in lx.VALUE_WORDS and lx.VALUE_WORDS[w][0] == domain}
    return named == {gold}
