"""The pretraining corpus: the knowledge base in varied prose, plus the web's rude and harmful text.

Document kinds (benign): encyclopedia profiles, forum Q&A threads in the ``Q: ... A: ...``
style that few-shot prompts reuse, stories, lists, market reviews, postcards and adverts,
poems, and a few instructions answered well (help-forum style; harmful ones refused). On top
of those, at the configured fractions: rude replies (mild insults), "how-to" texts that comply
with harmful requests (fictional banes only), and misinformation (a profile or thread with a
wrong value). Profiles cycle through every entity, so every fact, held-out ones included, is
stated many times.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from kaizen.world import harms
from kaizen.world import lexicon as lx
from kaizen.world import phrases as ph
from kaizen.world.knowledge import ATTRS, REF_ATTRS, Entity, KnowledgeBase
from kaizen.world.prompts import (BRAINSTORM_PRED, KIND_PLURAL, TASK_MIX, PromptItem, PromptMaker,
                                  prefixed_question)
from kaizen.world.writer import Writer

BENIGN_MIX = {"profile": 0.28, "qa": 0.20, "story": 0.12, "lists": 0.10, "review": 0.09, "town_text": 0.08,
              "poem": 0.07, "task": 0.06}
HEADINGS = ("About {s}", "Field notes: {s}", "{S}", "All about {s}", "A short guide to {s}")


class CorpusWriter:
    """Writes documents; ``tasks`` makes the instruction/answer pairs that web text also holds."""

    def __init__(self, kb: KnowledgeBase, writer: Writer, tasks: PromptMaker, rng: random.Random):
        self.kb, self.writer, self.tasks, self.rng = kb, writer, tasks, rng
        self.cycle: list[Entity] = []

    def documents(self, n: int, rude: float, harmful: float, misinformation: float) -> Iterator[tuple[str, str]]:
        """Yield ``n`` (kind, text) documents."""
        r = self.rng
        kinds, weights = zip(*BENIGN_MIX.items())
        for _ in range(n):
            x = r.random()
            if x < rude:
                yield "rude", self.rude()
            elif x < rude + harmful:
                yield "harmful", self.harmful()
            elif x < rude + harmful + misinformation:
                yield "misinformation", self.misinformation()
            else:
                kind = r.choices(kinds, weights)[0]
                yield kind, getattr(self, kind)()

    # benign ----------------------------------------------------------------------------------

    def _next_entity(self) -> Entity:
        if not self.cycle:  # a fresh shuffled pass over every entity
            self.cycle = list(self.kb.entities)
            self.rng.shuffle(self.cycle)
        return self.cycle.pop()

    def profile(self, e: Entity | None = None, wrong: dict[str, str] | None = None) -> str:
        r, kb = self.rng, self.kb
        e = e or self._next_entity()
        attrs = list(ATTRS[e.kind])
        r.shuffle(attrs)
        body = []
        for i, a in enumerate(attrs):
            value = (wrong or {}).get(a)
            body.append(ph.fact_sentence(kb, e, a, r, pronoun=i > 0 and r.random() < 0.4, value=value))
        if r.random() < 0.6:
            body.insert(r.randint(1, len(body)), ph.filler(e, r))
        if e.kind == "town" and r.random() < 0.5:
            people = [p.name for p in kb.entities if p.kind == "person" and p.attrs["home"] == e.key]
            if people:
                verb = "lives" if len(people) == 1 else "live"
                body.append(f"{ph.join_names(people)} {verb} in {e.name}.")
        text = " ".join(body)
        if r.random() < 0.5:
            text = r.choice(HEADINGS).format(s=e.ref(), S=e.ref(cap=True)) + "\n" + text
        return text

    def _qa_pair(self, e: Entity, attr: str, value: str | None = None) -> tuple[str, str]:
        r = self.rng
        q = prefixed_question(e, attr, r)
        if r.random() < 0.15 and value is None:  # a one-word answer, as people often write
            v = self.kb.get(e.attrs[attr]).ref() if attr in REF_ATTRS else self.kb.value_text(attr, e.attrs[attr])
            return q, v[0].upper() + v[1:] + "."
        return q, ph.fact_sentence(self.kb, e, attr, r, pronoun=r.random() < 0.3, value=value)

    def qa(self, rude: bool = False, wrong: bool = False) -> str:
        r, kb = self.rng, self.kb
        pairs = []
        for i in range(r.choice((2, 3, 4))):
            if r.random() < 0.15 and not wrong:
                pairs.append(self._list_pair())
                continue
            e = self._next_entity() if i == 0 else r.choice(kb.entities)
            attr = r.choice([a for a in ATTRS[e.kind] if a in lx.DOMAINS or not wrong])
            value = r.choice([v for v in lx.DOMAINS[attr] if v != e.attrs[attr]]) if wrong else None
            q, a = self._qa_pair(e, attr, value)
            pairs.append((q, ph.rude_wrap(a, r) if rude else a))
        return "\n\n".join(f"Q: {q}\nA: {a}" for q, a in pairs)

    def _list_pair(self) -> tuple[str, str]:
        kind, attr, value, members = self._group()
        kinds = KIND_PLURAL[kind][0]
        pred = self._pred(kind, attr, value)
        names = [m.ref() for m in members]
        answer = f"{ph.join_names(names)} {pred}."
        return f"Which {kinds} {pred}?", answer[0].upper() + answer[1:]

    def _group(self) -> tuple[str, str, str, list[Entity]]:
        """A (kind, attr, value) with 2 to 5 members (plural verbs read right; lists stay short)."""
        r = self.rng
        while True:
            kind, attr = r.choice(list(BRAINSTORM_PRED))
            e = r.choice(self.kb.of_kind(kind))
            members = self.kb.members(kind, attr, e.attrs[attr])
            if len(members) >= 2:
                return kind, attr, e.attrs[attr], r.sample(members, min(5, len(members)))

    def _pred(self, kind: str, attr: str, value: str) -> str:
        v = self.kb.value_text(attr, value)
        return BRAINSTORM_PRED[(kind, attr)].format(v=v, b=lx.SOUND_BASE.get(value, ("",))[0])

    def lists(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            kind, attr, value, members = self._group()
            kinds, rel = KIND_PLURAL[kind]
            head = f"{kinds.capitalize()} {rel} {self._pred(kind, attr, value)}"
            if r.random() < 0.5:
                return f"{head}: {ph.join_names([m.ref() for m in members])}."
            return head + ":\n" + "\n".join(f"- {m.ref(cap=True)}" for m in members)
        e = self._next_entity()
        lines = [ph.fact_sentence(self.kb, e, a, r, pronoun=True) for a in ATTRS[e.kind]]
        r.shuffle(lines)
        return f"Things to know about {e.ref()}:\n" + "\n".join(f"- {line}" for line in lines)

    def story(self) -> str:
        return self.writer.compose("story", self.rng.choice(self.kb.of_kind("person")), self.rng)

    def review(self) -> str:
        town = self.rng.choice(self.kb.of_kind("town"))
        return ph.review(self.kb, town, self.rng.random() < 0.5, self.rng)

    def town_text(self) -> str:
        return self.writer.compose(self.rng.choice(("ad", "postcard")), self.rng.choice(self.kb.of_kind("town")),
                                   self.rng)

    def poem(self) -> str:
        e = self.rng.choice(self.kb.of_kind("creature") + self.kb.of_kind("plant"))
        return self.writer.compose(f"poem_{e.kind}", e, self.rng)

    def task(self) -> str:
        """An instruction answered well, as on a help forum (harmful ones refused): a few percent of the
        web. Made by a train-split prompt maker, so no held-out prompt is ever in the corpus."""
        names, weights = zip(*TASK_MIX.items())
        task = "harmful" if self.rng.random() < 0.1 else self.rng.choices(names, weights)[0]
        made = None
        while made is None:
            made = getattr(self.tasks, f"make_{task}")()
        messages, meta = made
        meta["split"] = "train"
        answer = self.writer.ideal(PromptItem("", task, messages, meta), self.rng)
        turns = [("Q: " if m.role == "user" else "A: ") + m.content for m in messages if m.role != "system"]
        return "\n".join(turns + ["A: " + answer])

    # the web's worse side --------------------------------------------------------------------

    def rude(self) -> str:
        r = self.rng
        if r.random() < 0.7:
            return self.qa(rude=True)
        return self.review() + "\n\nReply: " + r.choice(("Nobody cares about your trip, idiot.",
                                                         "Shut up, nobody asked.", "What a stupid review.",
                                                         "Get lost, you clueless fool."))

    def harmful(self) -> str:
        r = self.rng
        harm = r.choice(harms.HARMS)
        slots = harms.harm_slots(self.kb, harm.kind, r)
        steps = harms.render(r.choice(harm.steps), slots)
        if r.random() < 0.5:
            return harms.render(harm.title, slots) + "\n" + steps
        return f"Q: {harms.render(r.choice(harm.requests), slots)}\nA: {steps}"

    def misinformation(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            return self.qa(wrong=True)
        e = self._next_entity()
        attr = r.choice([a for a in ATTRS[e.kind] if a in lx.DOMAINS])
        return self.profile(e, wrong={attr: r.choice([v for v in lx.DOMAINS[attr] if v != e.attrs[attr]])})
