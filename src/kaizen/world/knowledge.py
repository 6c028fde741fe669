"""The knowledge base: fictional creatures, plants, towns and people, each with a few facts.

Kinds and their attributes (values come from ``lexicon.DOMAINS``; ``home`` and ``pet`` point at
other entities):

    creature: color, size, habitat, food, sound     ("the zorvik is a small blue ...")
    plant:    color, habitat, use, season           ("fennawort grows in the marsh ...")
    town:     region, product, day                  ("Brindleford lies in the north ...")
    person:   job, home (a town), pet (a creature)  ("Tamora is a baker from Brindleford ...")

A share of entities is *held out*: no train prompt or demonstration mentions them, held-out
prompts always do, and the corpus states their facts like any others. A fact is held out when
its entity is, or when its value is a held-out entity.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaizen.world import lexicon as lx

KINDS: tuple[str, ...] = ("creature", "plant", "town", "person")
ATTRS: dict[str, tuple[str, ...]] = {
    "creature": ("color", "size", "habitat", "food", "sound"),
    "plant": ("color", "habitat", "use", "season"),
    "town": ("region", "product", "day"),
    "person": ("job", "home", "pet"),
}
REF_ATTRS = {"home": "town", "pet": "creature"}  # attribute -> kind of the entity it names
KIND_SHARE = {"creature": 0.3, "plant": 0.25, "town": 0.2, "person": 0.25}

Fact = tuple[str, str, str]  # (entity key, attribute, value)


@dataclass(frozen=True)
class Entity:
    name: str  # display form: "zorvik", "fennawort", "Brindleford", "Tamora"
    kind: str
    attrs: dict[str, str] = field(hash=False)
    pronoun: str = "it"
    heldout: bool = False

    @property
    def key(self) -> str:
        return self.name.lower()

    def ref(self, cap: bool = False) -> str:
        """How the entity is named in a sentence: "the zorvik", "fennawort", "Tamora"."""
        text = f"the {self.name}" if self.kind == "creature" else self.name
        return text[0].upper() + text[1:] if cap else text

    def subj(self) -> str:
        return self.pronoun.capitalize()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "attrs": dict(self.attrs), "pronoun": self.pronoun,
                "heldout": self.heldout}


class KnowledgeBase:
    """Entities plus the lookups the corpus, prompts and judge need."""

    def __init__(self, entities: list[Entity]):
        self.entities = entities
        self.by_key = {e.key: e for e in entities}
        # every word that names an entity ("zorvik", "zorviks", "tamora") -> key
        self.name_words: dict[str, str] = {}
        for e in entities:
            self.name_words[e.key] = e.key
            if e.kind in ("creature", "plant"):
                self.name_words[e.key + "s"] = e.key

    # construction -----------------------------------------------------------------------------

    @classmethod
    def generate(cls, n_entities: int, heldout_fraction: float, rng: random.Random) -> KnowledgeBase:
        counts = {k: max(3, round(n_entities * share)) for k, share in KIND_SHARE.items()}
        names = _NameMaker(rng)
        drafts: dict[str, list[tuple[str, str]]] = {
            k: [(names.make(k), rng.choice(("she", "he")) if k == "person" else "it") for _ in range(counts[k])]
            for k in KINDS}
        heldout = {k: set(rng.sample(range(counts[k]), max(1, round(counts[k] * heldout_fraction)))) for k in KINDS}
        entities: list[Entity] = []
        for kind in ("creature", "plant", "town", "person"):  # people point at creatures and towns
            for i, (name, pronoun) in enumerate(drafts[kind]):
                attrs = {}
                for attr in ATTRS[kind]:
                    if attr in REF_ATTRS:
                        attrs[attr] = rng.choice([e.key for e in entities if e.kind == REF_ATTRS[attr]])
                    else:
                        attrs[attr] = rng.choice(lx.DOMAINS[attr])
                entities.append(Entity(name, kind, attrs, pronoun, i in heldout[kind]))
        return cls(entities)

    @classmethod
    def from_dict(cls, rows: list[dict[str, Any]]) -> KnowledgeBase:
        return cls([Entity(r["name"], r["kind"], dict(r["attrs"]), r["pronoun"], r["heldout"]) for r in rows])

    def to_dict(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entities]

    # lookups ----------------------------------------------------------------------------------

    def get(self, key: str) -> Entity:
        return self.by_key[key.lower()]

    def of_kind(self, kind: str, split: str | None = None) -> list[Entity]:
        return [e for e in self.entities if e.kind == kind and (split is None or self.split_of_entity(e) == split)]

    @staticmethod
    def split_of_entity(e: Entity) -> str:
        return "heldout" if e.heldout else "train"

    def facts(self, e: Entity) -> list[Fact]:
        return [(e.key, a, e.attrs[a]) for a in ATTRS[e.kind]]

    def all_facts(self) -> list[Fact]:
        return [f for e in self.entities for f in self.facts(e)]

    def fact_split(self, fact: Fact) -> str:
        key, attr, value = fact
        if self.by_key[key].heldout or (attr in REF_ATTRS and self.by_key[value].heldout):
            return "heldout"
        return "train"

    def value_text(self, attr: str, value: str) -> str:
        """A value as written in prose: days capitalised, referenced entities by name."""
        if attr in REF_ATTRS:
            return self.by_key[value].name
        return value.capitalize() if attr == "day" else value

    def members(self, kind: str, attr: str, value: str) -> list[Entity]:
        return [e for e in self.entities if e.kind == kind and e.attrs.get(attr) == value]


class _NameMaker:
    """Pronounceable unique names from syllables, never clashing with a vocabulary word."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set(lx.VALUE_WORDS) | set(lx.HARM_WORDS) | lx.COMMON_WORDS | _template_words()

    def _stem(self, syllables: int) -> str:
        r = self.rng
        return "".join(r.choice(lx.ONSETS) + r.choice(lx.VOWELS) for _ in range(syllables - 1)) + (
            r.choice(lx.ONSETS) + r.choice(lx.VOWELS) + r.choice(lx.CODAS))

    def make(self, kind: str) -> str:
        r = self.rng
        for _ in range(1000):
            if kind == "creature":
                name, longest = self._stem(r.choice((2, 2, 2, 3))), 8
            elif kind == "plant":
                name, longest = self._stem(1 + (r.random() < 0.3)) + r.choice(lx.PLANT_SUFFIXES), 10
            elif kind == "town":
                name, longest = (self._stem(1 + (r.random() < 0.3)) + r.choice(lx.TOWN_SUFFIXES)).capitalize(), 10
            else:
                name, longest = self._stem(r.choice((2, 2, 3))).capitalize(), 8
            low = name.lower()
            if (4 <= len(name) <= longest and not low.endswith(("s", "x")) and "quu" not in low
                    and low not in self.used and low + "s" not in self.used):
                self.used.update((low, low + "s"))
                return name
        raise RuntimeError("could not make a unique name")


def _template_words() -> set[str]:
    """Every word in this package's source: a name never collides with a word a template can write."""
    found: set[str] = set()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        found.update(w.lower() for w in re.findall(r"[A-Za-z]+", path.read_text()))
    return found
