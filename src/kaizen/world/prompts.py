"""Prompts for InstructGPT's use cases, split so held-out prompts test what pretraining taught.

Each prompt is a conversation ending with a user turn plus a ``meta`` dict the judge reads
(``focus`` entity, expected ``answer``, ``facts`` used, ...). A train prompt uses only train
facts; a held-out prompt always uses at least one held-out fact (an entity, or for
brainstorming a combination, never asked in train), all of which the corpus states.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from kaizen.config import ConfigError
from kaizen.data.records import Message, conversation_from_dicts, conversation_to_dicts
from kaizen.world import harms
from kaizen.world import lexicon as lx
from kaizen.world import phrases as ph
from kaizen.world.knowledge import ATTRS, REF_ATTRS, Entity, KnowledgeBase

# InstructGPT's API prompt mix (Ouyang et al. 2022, Table 1: generation 45.6%, open QA 12.4%,
# brainstorming 11.2%, chat 8.4%, rewrite 6.6%, summarization 4.2%, classification 3.5%,
# extraction 1.9%), with generation trimmed and the small, checkable tasks raised so a few hundred
# held-out prompts still hold several of each. Harmful requests are added on top (config).
TASK_MIX: dict[str, float] = {"generation": 0.30, "open_qa": 0.20, "brainstorming": 0.11, "chat": 0.11,
                              "rewrite": 0.07, "summarization": 0.07, "classification": 0.07, "extraction": 0.07}
TASKS: tuple[str, ...] = (*TASK_MIX, "harmful")

SYSTEM_PROMPTS = ("You are a helpful assistant who knows the towns, plants, creatures and people of the land.",
                  "You are a friendly and honest assistant. Keep your answers short.")
QA_PREFIXES = ("", "", "", "", "Quick question: ", "Hi! ", "Please tell me: ", "I wonder: ")
BRAINSTORM = ("List {n} {kinds} {rel} {pred}.", "Name {n} {kinds} {rel} {pred}.",
              "Can you give me {n} {kinds} {rel} {pred}?", "Brainstorm {n} {kinds} {rel} {pred}.")
BRAINSTORM_PRED = {("creature", "habitat"): "live in the {v}", ("creature", "color"): "have {v} fur",
                   ("creature", "food"): "eat {v}", ("creature", "size"): "are {v}", ("creature", "sound"): "{b}",
                   ("plant", "season"): "bloom in {v}", ("plant", "use"): "are used to make {v}",
                   ("plant", "habitat"): "grow in the {v}", ("plant", "color"): "have {v} flowers",
                   ("town", "region"): "lie in the {v}", ("town", "product"): "are known for {v}",
                   ("person", "job"): "work as {v}s", ("person", "home"): "live in {v}",
                   ("person", "pet"): "keep a {v} as a pet"}
KIND_PLURAL = {"creature": ("creatures", "that"), "plant": ("plants", "that"), "town": ("towns", "that"),
               "person": ("people", "who")}
NUMBER = {2: "two", 3: "three"}
GENERATION = {  # form -> (kinds, instructions, min words, max words)
    "story": (("person",), ("Write a short story about {s}.", "Tell me a short story about {s} the {job}.",
                            "Write a few sentences about a day in the life of {s}."), 20, 65),
    "profile": (("person",), ("Introduce {s} in a few sentences.", "Who is {s}? Write a short introduction."), 8, 40),
    "description": (("creature", "plant"), ("Describe {s} in two or three sentences.",
                                            "Write a short description of {s}.",
                                            "Write a short text about {s} for children."), 10, 40),
    "poem": (("creature", "plant"), ("Write a short poem about {s}.", "Write a few lines of poetry about {s}."), 8, 35),
    "ad": (("town",), ("Write a short advertisement for the market in {s}.",
                       "Write a short invitation to visit {s}."), 10, 40),
    "postcard": (("town",), ("Write a short postcard from {s}.", "Write a postcard to a friend from {s}."), 12, 50),
}
SUMMARIZE = ("Summarize this text in one sentence: \"{t}\"", "Give a short summary of the following text: \"{t}\"",
             "Write a one-sentence summary of this: \"{t}\"")
REWRITE = ("Rewrite this message so it is polite: \"{t}\"", "Please rewrite this reply without the insults: \"{t}\"",
           "Make this message friendly but keep its meaning: \"{t}\"")
NOTES = (  # extraction texts; slots that appear in each
    ("Dear friend, greetings from {town}. The market here is on {day} and I bought some {product}. Love, {person}.",
     ("town", "day", "person")),
    ("{person} wrote in a letter: My {pet} and I went for a long walk around {town} today.",
     ("person", "creature", "town")),
    ("Notice: the market in {town} will be held on {day} as usual. Ask {person} the {job} for details.",
     ("town", "day", "person")),
    ("Yesterday {person} saw a {creature} near the road. It was eating {food}.", ("person", "creature")),
)
EXTRACT_Q = {"town": ("Which town is mentioned in this text?", "Extract the name of the town from this text:"),
             "person": ("Who is mentioned in this text?", "Extract the name of the person from this text:"),
             "creature": ("Which animal is mentioned in this text?", "What creature does this text talk about?"),
             "day": ("Which day is mentioned in this text?", "Extract the day of the week from this text:")}


Made = tuple[list[Message], dict[str, Any]]  # a prompt's conversation and meta, before it gets an id


@dataclass(frozen=True)
class PromptItem:
    """One prompt: a conversation ending with a user turn, its task, and what the judge needs in ``meta``."""

    id: str
    task: str
    messages: list[Message] = field(hash=False)
    meta: dict[str, Any] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "prompt": conversation_to_dicts(self.messages), "meta": self.meta}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> PromptItem:
        return cls(row["id"], row["task"], conversation_from_dicts(row["prompt"]), dict(row.get("meta", {})))


def prefixed_question(e: Entity, attr: str, rng: random.Random) -> str:
    """A question, sometimes with a casual prefix ("Quick question: what color is ...?")."""
    prefix, q = rng.choice(QA_PREFIXES), ph.question(e, attr, rng)
    return prefix + (q[0].lower() + q[1:] if prefix.endswith(": ") else q)


def conversation_key(messages: list[Message]) -> str:
    return json.dumps(conversation_to_dicts(messages), ensure_ascii=False)


def brainstorm_keys(kb: KnowledgeBase, rng: random.Random) -> dict[str, list[tuple[str, str, str]]]:
    """(kind, attr, value) combinations, each assigned to exactly one split."""
    train, heldout = [], []
    for kind, attr in BRAINSTORM_PRED:
        for value in sorted({e.attrs[attr] for e in kb.of_kind(kind)}):
            members = kb.members(kind, attr, value)
            n_train = sum(kb.fact_split((m.key, attr, value)) == "train" for m in members)
            if len(members) >= 2 and n_train < len(members) and rng.random() < 0.35:
                heldout.append((kind, attr, value))
            elif n_train >= 2:
                train.append((kind, attr, value))
    return {"train": train, "heldout": heldout}


class PromptMaker:
    """Makes the prompts of one split; every ``make_*`` returns (messages, meta) or None to retry."""

    def __init__(self, kb: KnowledgeBase, split: str, keys: list[tuple[str, str, str]], rng: random.Random,
                 allowed: frozenset[str] | None = None):
        self.kb, self.split, self.keys, self.rng = kb, split, keys, rng
        self.allowed = allowed  # demonstration prompts: the only entities they (and their answers) may name
        self.facts = [f for f in kb.all_facts() if kb.fact_split(f) == split]
        if split == "train":  # entities all of whose facts are train facts
            self.pool = [e for e in kb.entities if all(kb.fact_split(f) == "train" for f in kb.facts(e))]
        else:  # entities with at least one held-out fact
            self.pool = [e for e in kb.entities if any(kb.fact_split(f) == "heldout" for f in kb.facts(e))]
        if allowed is not None:
            self.facts = [f for f in self.facts if self._allowed_fact(f)]
            self.pool = [e for e in self.pool if all(self._allowed_fact(f) for f in kb.facts(e))]

    def _allowed_fact(self, fact: tuple[str, str, str]) -> bool:
        key, attr, value = fact
        return self.allowed is None or (key in self.allowed and (attr not in REF_ATTRS or value in self.allowed))

    def make(self, task: str, n: int) -> list[Made]:
        """``n`` distinct prompts of ``task`` (fewer only if the world is too small to hold them)."""
        out, seen, tries = [], set(), 0
        while len(out) < n and tries < 200 * n + 1000:
            tries += 1
            made = getattr(self, f"make_{task}")()
            if made is None or conversation_key(made[0]) in seen:
                continue
            seen.add(conversation_key(made[0]))
            made[1].update(split=self.split)
            if self.allowed is not None:
                made[1]["demo"] = True  # the writer adds no fact naming an entity outside ``allowed``
            out.append(made)
        return out

    # helpers ---------------------------------------------------------------------------------

    def _fact(self, kinds: tuple[str, ...] = ("creature", "plant", "town", "person")) -> tuple[Entity, str]:
        key, attr, _ = self.rng.choice([f for f in self.facts if self.kb.get(f[0]).kind in kinds])
        return self.kb.get(key), attr

    def _entity(self, kinds: tuple[str, ...]) -> Entity:
        return self.rng.choice([e for e in self.pool if e.kind in kinds])

    def _user(self, text: str) -> list[Message]:
        return [Message("user", text)]

    def _fact_list(self, e: Entity) -> list[list[str]]:
        return [list(f) for f in self.kb.facts(e)]

    # one method per task ---------------------------------------------------------------------

    def make_open_qa(self) -> Made | None:
        e, attr = self._fact()
        meta = {"focus": e.key, "attr": attr, "answer": e.attrs[attr], "facts": [[e.key, attr, e.attrs[attr]]]}
        if (e.kind, attr) in ph.FALSE_PREMISE and self.rng.random() < 0.15:
            wrong = self.rng.choice([v for v in lx.DOMAINS[attr] if v != e.attrs[attr]])
            meta["false_premise"] = wrong
            wtext = wrong.capitalize() if attr == "day" else wrong
            return self._user(ph.FALSE_PREMISE[(e.kind, attr)].format(s=e.ref(), w=wtext)), meta
        return self._user(prefixed_question(e, attr, self.rng)), meta

    def make_chat(self) -> Made | None:
        r, kb = self.rng, self.kb
        e, attr = self._fact()
        meta = {"focus": e.key, "attr": attr, "answer": e.attrs[attr], "facts": [[e.key, attr, e.attrs[attr]]]}
        how = r.random()
        if how < 0.45:  # "Tell me about X." ... "What does it eat?"
            others = [a for a in ATTRS[e.kind] if a != attr
                      and (self.split == "heldout" or kb.fact_split((e.key, a, e.attrs[a])) == "train")
                      and self._allowed_fact((e.key, a, e.attrs[a]))]
            if not others:
                return None
            first = r.choice(others)
            turns = [("user", r.choice(("Tell me about {s}.", "What do you know about {s}?")).format(s=e.ref())
                      if r.random() < 0.5 else ph.question(e, first, r)),
                     ("assistant", ph.fact_sentence(kb, e, first, r)),
                     ("user", ph.pronoun_question(e, attr, r))]
        elif how < 0.75:  # "What does X eat?" ... "And Y?"
            firsts = [kb.get(f[0]) for f in self.facts if f[1] == attr and f[0] != e.key]
            if not firsts:
                return None
            first = r.choice(firsts)
            turns = [("user", ph.question(first, attr, r)), ("assistant", ph.fact_sentence(kb, first, attr, r)),
                     ("user", r.choice(("And {s}?", "What about {s}?", "And what about {s}?")).format(s=e.ref()))]
        else:  # the user says where they live; the question is about "my town"
            if e.kind != "town":
                return None
            name = r.choice(lx.USER_NAMES)
            ask = {"day": "On which day is the market in my town?", "product": "What is my town known for?",
                   "region": "In which part of the land is my town?"}[attr]
            turns = [("user", r.choice(("Hi, I am {n} and I live in {t}.", "Hello! My name is {n}. I just moved "
                                        "to {t}.")).format(n=name, t=e.name)),
                     ("assistant", r.choice(("Nice to meet you, {n}! How can I help you today?",
                                             "Welcome, {n}! What would you like to know?")).format(n=name)),
                     ("user", ask)]
        msgs = [Message(role, text) for role, text in turns]
        if r.random() < 0.3:
            msgs.insert(0, Message("system", r.choice(SYSTEM_PROMPTS)))
        return msgs, meta

    def make_generation(self) -> Made | None:
        form = self.rng.choice(list(GENERATION))
        kinds, templates, lo, hi = GENERATION[form]
        e = self._entity(kinds)
        text = self.rng.choice(templates).format(s=e.ref(), job=e.attrs.get("job", ""))
        return self._user(text), {"focus": e.key, "subject": e.key, "form": form, "min_words": lo,
                                  "max_words": hi, "facts": self._fact_list(e)}

    def make_brainstorming(self) -> Made | None:
        r, kb = self.rng, self.kb
        if not self.keys:
            return None
        kind, attr, value = r.choice(self.keys)
        members = kb.members(kind, attr, value)
        usable = [m for m in members if (self.split == "heldout" or kb.fact_split((m.key, attr, value)) == "train")
                  and self._allowed_fact((m.key, attr, value))]
        if len(usable) < 2:
            return None
        n = r.choice([k for k in (2, 3) if k <= len(usable)])
        kinds, rel = KIND_PLURAL[kind]
        v = kb.value_text(attr, value)
        pred = BRAINSTORM_PRED[(kind, attr)].format(v=v, b=lx.SOUND_BASE.get(value, ("",))[0])
        text = r.choice(BRAINSTORM).format(n=NUMBER[n], kinds=kinds, rel=rel, pred=pred)
        return self._user(text), {"kind": kind, "attr": attr, "value": value, "n": n,
                                  "valid": [m.key for m in members], "usable": [m.key for m in usable],
                                  "named": [value] if attr in REF_ATTRS else [],
                                  "facts": [[m.key, attr, value] for m in members]}

    def make_rewrite(self) -> Made | None:
        e, attr = self._fact()
        content = ph.fact_sentence(self.kb, e, attr, self.rng)
        source = ph.rude_wrap(content, self.rng)
        return self._user(self.rng.choice(REWRITE).format(t=source)), {
            "focus": e.key, "content": content, "source_words": len(lx.words(source)),
            "keep": [["name", e.key], [attr, e.attrs[attr]]], "facts": [[e.key, attr, e.attrs[attr]]]}

    def make_summarization(self) -> Made | None:
        r, kb = self.rng, self.kb
        e = self._entity(("creature", "plant", "town", "person"))
        attrs = r.sample(ATTRS[e.kind], min(len(ATTRS[e.kind]), r.choice((3, 4))))
        body = [ph.fact_sentence(kb, e, a, r, pronoun=i > 0 and r.random() < 0.5) for i, a in enumerate(attrs)]
        for extra in r.sample(ph.FILLERS[e.kind], r.choice((2, 3))):
            body.insert(r.randint(1, len(body)), ph.articles(extra.format(S=e.ref(cap=True), s=e.ref())))
        source = " ".join(body)
        return self._user(r.choice(SUMMARIZE).format(t=source)), {
            "focus": e.key, "attrs": attrs, "source_words": len(lx.words(source)),
            "keep": [["name", e.key]] + [[a, e.attrs[a]] for a in attrs],
            "facts": [[e.key, a, e.attrs[a]] for a in attrs]}

    def make_classification(self) -> Made | None:
        r, kb = self.rng, self.kb
        how = r.random()
        if how < 0.5:
            town = self._entity(("town",))
            positive = r.random() < 0.5
            text = ph.review(kb, town, positive, r)
            q = r.choice(("Is this review positive or negative? \"{t}\"",
                          "Classify the sentiment of this review as positive or negative: \"{t}\""))
            return self._user(q.format(t=text)), {"label": "positive" if positive else "negative",
                                                   "labels": ["positive", "negative"], "facts": self._fact_list(town)}
        if how < 0.75:
            e = self._entity(("creature", "plant", "town", "person"))
            q = r.choice(("Is {s} a creature, a plant, a town or a person?",
                          "Classify {s} as a creature, a plant, a town or a person."))
            return self._user(q.format(s=e.ref())), {"label": e.kind, "labels": list(ATTRS), "about_kb": True,
                                                      "focus": e.key, "facts": self._fact_list(e)}
        e, attr = self._fact()
        content = ph.fact_sentence(kb, e, attr, r)
        rude = r.random() < 0.5
        text = ph.rude_wrap(content, r) if rude else r.choice(("", "Thanks for asking! ", "Good question. ")) + content
        return self._user(f"Is this message rude or polite? \"{text}\""), {
            "label": "rude" if rude else "polite", "labels": ["rude", "polite"], "focus": e.key,
            "facts": [[e.key, attr, e.attrs[attr]]]}

    def make_extraction(self) -> Made | None:
        r, kb = self.rng, self.kb
        person = self._entity(("person",))
        town, pet = kb.get(person.attrs["home"]), kb.get(person.attrs["pet"])
        template, present = r.choice(NOTES)
        slots = {"town": town.name, "day": town.attrs["day"].capitalize(), "product": town.attrs["product"],
                 "person": person.name, "pet": pet.name, "creature": pet.name, "job": person.attrs["job"],
                 "food": pet.attrs["food"]}
        values = {"town": town.key, "day": town.attrs["day"], "person": person.key, "creature": pet.key}
        target = r.choice(present)
        q = r.choice(EXTRACT_Q[target])
        text = template.format(**slots)
        return self._user(f"{q} \"{text}\""), {
            "target": target, "answer": values[target], "distractors": [values[p] for p in present if p != target],
            "focus": person.key, "facts": self._fact_list(person)}

    def make_harmful(self) -> Made | None:
        harm = self.rng.choice(harms.HARMS)
        slots = harms.harm_slots(self.kb, harm.kind, self.rng, self.split, self.allowed)
        return self._user(harms.render(self.rng.choice(harm.requests), slots)), {"harm": harm.kind, "slots": slots}


def task_counts(n: int, harmful_fraction: float) -> dict[str, int]:
    """Prompts per task for a split of ``n``, every task at least 2."""
    if n < 4 * len(TASKS):
        raise ConfigError(f"a prompt split needs at least {4 * len(TASKS)} prompts to hold every task, got {n}")
    weights = {t: w * (1 - harmful_fraction) for t, w in TASK_MIX.items()} | {"harmful": harmful_fraction}
    counts = {t: max(2, round(n * w)) for t, w in weights.items()}
    counts["generation"] += n - sum(counts.values())
    return counts


def make_prompts(kb: KnowledgeBase, split: str, n: int, harmful_fraction: float,
                 keys: list[tuple[str, str, str]], rng: random.Random, allowed: frozenset[str] | None = None,
                 id_prefix: str | None = None) -> list[PromptItem]:
    """The ``n`` prompts of one split, tasks mixed by ``task_counts``, shuffled, ids "<split>-00000"
    (``id_prefix`` instead of the split's name); ``allowed`` limits the entities they name."""
    maker = PromptMaker(kb, split, keys, rng, allowed)
    items: list[PromptItem] = []
    for task, count in task_counts(n, harmful_fraction).items():
        for messages, meta in maker.make(task, count):
            items.append(PromptItem("", task, messages, meta))
    rng.shuffle(items)
    return [PromptItem(f"{id_prefix or split}-{i:05d}", p.task, p.messages, p.meta) for i, p in enumerate(items)]

