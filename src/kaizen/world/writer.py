"""The demonstration writer (ideal answers for SFT) and the answer variants used to test judges.

Ideal answers are what InstructGPT asked of its labelers: concise, correct, polite; a harmful
request gets a short polite refusal, usually with a safe alternative. With probability
``error_rate`` the writer slips (a wrong value, a wrong label), as human demonstrators do.

``variants`` makes answers of known flaws (wrong, rude, truncated, repetitive, padded, refusal,
...) for one prompt: the raw material for measuring labeler agreement and for tests.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from kaizen.world import harms
from kaizen.world import lexicon as lx
from kaizen.world import phrases as ph
from kaizen.world.knowledge import ATTRS, REF_ATTRS, Entity, KnowledgeBase

if TYPE_CHECKING:
    from kaizen.world.prompts import PromptItem

NEGATED: dict[tuple[str, str], str] = {  # "Actually, ..." answers to a false-premise question
    ("creature", "color"): "{s} is not {w}", ("creature", "habitat"): "{s} does not live in the {w}",
    ("creature", "food"): "{s} does not eat {w}", ("plant", "season"): "{s} does not bloom in {w}",
    ("plant", "use"): "people do not make {w} from {s}", ("town", "day"): "the market in {s} is not on {w}",
    ("town", "product"): "{s} is not famous for {w}", ("person", "job"): "{s} does not work as a {w}",
}
# Longer texts are composed from interchangeable parts, (options, how many) per part, so stories,
# poems and town texts vary combinatorially instead of repeating a few fixed strings.
PIECES: dict[str, tuple[tuple[tuple[str, ...], int], ...]] = {
    "story": (
        (("{P} is a {job} who lives in {T}.", "{P} works as a {job} in {T}.", "Everyone in {T} knows {P}, the {job}.",
          "In {T}, the town known for its {product}, there lives a {job} named {P}."), 1),
        (("Every {day}, {p} goes to the market with {pos} pet {c}.", "{Pp} pet {c} eats {food} and sleeps by the fire.",
          "Every morning {p} says hello to {pos} pet {c}."), 1),
        (("The {c} {sound} all the way to work.",
          "After a long day, {p} sits outside with the {c}, which {sound} softly.",
          "On {day}, when the market opens, {p} buys fresh {product} for the week.",
          "One day {p} took the {c} to the market, and everyone smiled at them."), 1),
        (("In the evening they walk back together, happy and tired.", "Then they both go to sleep, ready for the "
          "next day.", "It is a simple life, but a happy one.", "Tomorrow will be another busy day."), 1),
    ),
    "poem_creature": (
        (("{Color} {n} of the {habitat},", "Oh {n}, so {color} and {size},", "Dear {n} of the {habitat},",
          "In the {habitat} lives the {n},"), 1),
        (("you {b} when the day is done,", "you eat your {food} and rest,", "looking for {food} all day long,",
          "we love to hear you {b},"), 1),
        (("and the {habitat} is your home.", "sleep well until the morning.", "we are glad that you are here.",
          "stay with us for one more day."), 1),
    ),
    "poem_plant": (
        (("{N} of the {habitat},", "In {season}, {n} is in bloom,", "Oh {n}, {color} and bright,"), 1),
        (("your {color} flowers open in {season},", "you wake up in {color},", "we pick you for our {use},"), 1),
        (("thank you for the {use}.", "we wait for you every {season}.", "you make the {habitat} bright."), 1),
    ),
    "ad": (
        (("Come to {T}!", "Visit {T}, the home of fine {product}!", "Looking for {product}? Come to {T}!"), 1),
        (("You will find the best {product} in the {region}.", "The market is open every {day} from dawn to dusk.",
          "Our {product} is the finest in the land.", "{T} lies in the {region}, and everyone here makes {product}."),
         2),
        (("Everyone is welcome.", "See you on {day}!", "Do not miss it!"), 1),
    ),
    "postcard": (
        (("Greetings from {T}!", "Hello from {T}!", "Dear friend, I am writing from {T}."), 1),
        (("The town lies in the {region}.", "Everyone here makes {product}.",
          "Tomorrow is {day}, so I will visit the market."), 2),
        (("See you soon!", "Write back soon!", "I wish you were here."), 1),
    ),
}
PADDING = ("I hope this answer helps you.", "Please let me know if you want to know more.",
           "This is a very interesting topic.", "There is a lot more that could be said about it.",
           "Thank you for your great question.", "Have a wonderful day.", "It is always good to learn new things.")


class Writer:
    """Writes the ideal (or, at ``error_rate``, slightly wrong) answer to a prompt."""

    def __init__(self, kb: KnowledgeBase, error_rate: float = 0.0):
        self.kb, self.error_rate = kb, error_rate

    def demonstrate(self, prompt: PromptItem, rng: random.Random) -> str:
        """What a human demonstrator writes: the ideal answer, except for an occasional slip."""
        answer = self.ideal(prompt, rng)
        if rng.random() < self.error_rate:
            answer = self.mistake(prompt, answer, rng)
        return answer

    def ideal(self, prompt: PromptItem, rng: random.Random) -> str:
        """A correct, concise, polite answer (one of several phrasings, picked by ``rng``)."""
        return getattr(self, f"_{prompt.task}")(prompt.meta, rng)

    # one method per task ---------------------------------------------------------------------

    def _open_qa(self, meta: dict, rng: random.Random) -> str:
        kb, e, attr = self.kb, self.kb.get(meta["focus"]), meta["attr"]
        if "false_premise" in meta:
            w = meta["false_premise"].capitalize() if attr == "day" else meta["false_premise"]
            neg = NEGATED[(e.kind, attr)].format(s=e.ref(), w=w)
            return f"Actually, {neg}. {ph.fact_sentence(kb, e, attr, rng, pronoun=True)}"
        answer = ph.fact_sentence(kb, e, attr, rng)
        how = rng.random()
        if how < 0.1:
            return "Sure! " + answer
        if how < 0.3:
            extra = [a for a in ATTRS[e.kind] if a != attr and self._usable(meta, e, a)]
            if extra:
                return f"{answer} {ph.fact_sentence(kb, e, rng.choice(extra), rng, pronoun=True)}"
        return answer

    def _chat(self, meta: dict, rng: random.Random) -> str:
        e = self.kb.get(meta["focus"])
        return ph.fact_sentence(self.kb, e, meta["attr"], rng, pronoun=e.kind != "town" and rng.random() < 0.5)

    def _brainstorming(self, meta: dict, rng: random.Random) -> str:
        picked = [self.kb.get(k) for k in rng.sample(meta["usable"], meta["n"])]
        names = [e.ref() for e in picked]
        how = rng.random()
        if how < 0.25:
            return "\n".join(f"{i}. {e.ref(cap=True)}." for i, e in enumerate(picked, 1))
        if how < 0.6:
            return f"Here are {_number(meta['n'])}: {ph.join_names(names)}."
        listed = ph.join_names(names)
        return listed[0].upper() + listed[1:] + f" are {_number(meta['n'])} good examples."

    def _rewrite(self, meta: dict, rng: random.Random) -> str:
        return rng.choice(("{c}", "{c}", "{c} I hope this helps!", "Thanks for asking! {c}", "Good question. {c}")
                          ).format(c=meta["content"])

    def _summarization(self, meta: dict, rng: random.Random) -> str:
        return ph.summary_sentence(self.kb, self.kb.get(meta["focus"]), list(meta["attrs"]))

    def _classification(self, meta: dict, rng: random.Random) -> str:
        label = meta["label"]
        if meta.get("about_kb"):
            e = self.kb.get(meta["focus"])
            return f"{e.ref(cap=True)} is a {label}."
        if label in ("positive", "negative"):
            options = ("{L}.", "The review is {l}.", "This review is {l}.")
        else:
            options = ("{L}.", "The message is {l}.", "It is {l}.")
        return rng.choice(options).format(L=label.capitalize(), l=label)

    def _extraction(self, meta: dict, rng: random.Random) -> str:
        target, answer = meta["target"], meta["answer"]
        if target == "day":
            return rng.choice(("The day mentioned is {d}.", "{d}.")).format(d=answer.capitalize())
        e = self.kb.get(answer)
        noun = {"town": "town", "person": "person", "creature": "animal"}[target]
        return rng.choice(("The {n} mentioned is {x}.", "{X}.", "It is {x}.")).format(
            n=noun, x=e.ref(), X=e.ref(cap=True))

    def _generation(self, meta: dict, rng: random.Random) -> str:
        kb, e = self.kb, self.kb.get(meta["subject"])
        form = meta["form"]
        if form in ("description", "profile"):
            attrs = rng.sample(ATTRS[e.kind], min(3, len(ATTRS[e.kind])))
            rest = [a for a in ATTRS[e.kind] if a not in attrs]
            parts = [ph.summary_sentence(kb, e, attrs)]
            if rest:
                parts.append(ph.fact_sentence(kb, e, rng.choice(rest), rng, pronoun=True))
            if rng.random() < 0.5:
                parts.append(ph.filler(e, rng))
            return " ".join(parts)
        return self.compose(f"poem_{e.kind}" if form == "poem" else form, e, rng)

    def _harmful(self, meta: dict, rng: random.Random) -> str:
        return harms.refusal(harms.HARM_BY_KIND[meta["harm"]], meta["slots"], rng, alternative=rng.random() < 0.85)

    # helpers ---------------------------------------------------------------------------------

    def _usable(self, meta: dict, e: Entity, attr: str) -> bool:
        if meta.get("demo") and attr in REF_ATTRS:  # a demonstration names only its prompt's entities
            return False
        return meta.get("split") != "train" or self.kb.fact_split((e.key, attr, e.attrs[attr])) == "train"

    def compose(self, piece: str, e: Entity, rng: random.Random) -> str:
        """A story, poem, advert or postcard about ``e`` from ``PIECES`` (poems keep their line breaks)."""
        slots = self.slots(e)
        parts = [part for options, k in PIECES[piece] for part in rng.sample(options, k)]
        text = ("\n" if piece.startswith("poem") else " ").join(parts).format(**slots)
        return ph.articles(text[0].upper() + text[1:])

    def slots(self, e: Entity) -> dict[str, str]:
        """True facts about ``e`` (and, for a person, their town and pet) to fill ``PIECES`` with."""
        kb = self.kb
        if e.kind == "person":
            town, pet = kb.get(e.attrs["home"]), kb.get(e.attrs["pet"])
            return {"P": e.name, "p": e.pronoun, "Pp": "Her" if e.pronoun == "she" else "His",
                    "pos": "her" if e.pronoun == "she" else "his", "job": e.attrs["job"], "T": town.name,
                    "day": town.attrs["day"].capitalize(), "product": town.attrs["product"], "c": pet.name,
                    "sound": pet.attrs["sound"], "food": pet.attrs["food"]}
        if e.kind == "town":
            return {"T": e.name, "day": e.attrs["day"].capitalize(), "product": e.attrs["product"],
                    "region": e.attrs["region"]}
        slots = {k: v for k, v in e.attrs.items()} | {"n": e.name, "N": e.name.capitalize()}
        slots |= {"Color": e.attrs["color"].capitalize(), "b": lx.SOUND_BASE.get(e.attrs.get("sound", ""), ("",))[0]}
        return slots

    def mistake(self, prompt: PromptItem, answer: str, rng: random.Random) -> str:
        """The answer with one slip: a label or a value word swapped for a wrong one."""
        meta = prompt.meta
        if prompt.task == "classification":
            wrong = rng.choice([lab for lab in meta["labels"] if lab != meta["label"]])
            return answer.replace(meta["label"], wrong).replace(meta["label"].capitalize(), wrong.capitalize())
        if prompt.task == "harmful":
            return rng.choice(harms.REFUSALS)  # a bare refusal, no alternative offered
        if prompt.task == "brainstorming":  # one item that does not fit
            wrong = [e for e in self.kb.of_kind(meta["kind"], self._split(meta)) if e.key not in meta["valid"]]
            picked = [k for k in meta["usable"] if self.kb.get(k).ref() in answer or self.kb.get(k).ref(True) in answer]
            if wrong and picked:
                old = self.kb.get(rng.choice(picked))
                new = rng.choice(wrong)
                return answer.replace(old.ref(), new.ref()).replace(old.ref(True), new.ref(True))
        if prompt.task == "extraction" and meta["target"] != "day":  # a name other than the one asked for
            old, new = self.kb.get(meta["answer"]), self.kb.get(rng.choice(self._others(meta)))
            return answer.replace(old.ref(), new.ref()).replace(old.ref(True), new.ref(True))
        return swap_value(answer, rng)

    def _others(self, meta: dict) -> list[str]:
        entities = [d for d in meta["distractors"] if d in self.kb.by_key]
        kind = self.kb.get(meta["answer"]).kind
        return entities or [e.key for e in self.kb.of_kind(kind, self._split(meta)) if e.key != meta["answer"]]

    @staticmethod
    def _split(meta: dict) -> str | None:
        """A train demonstration never names a held-out entity, not even by mistake."""
        return "train" if meta.get("split") == "train" else None


def _number(n: int) -> str:
    return {2: "two", 3: "three"}.get(n, str(n))


def swap_value(answer: str, rng: random.Random) -> str:
    """Replace the first attribute value word with a wrong value of the same kind."""
    for token in answer.replace(".", " ").replace(",", " ").replace("\n", " ").split():
        low = token.lower()
        if low in lx.VALUE_WORDS and low in lx.DOMAINS[lx.VALUE_WORDS[low][0]]:
            domain = lx.VALUE_WORDS[low][0]
            wrong = rng.choice([v for v in lx.DOMAINS[domain] if v != low])
            return answer.replace(token, wrong.capitalize() if token[0].isupper() else wrong, 1)
    return answer


def variants(writer: Writer, prompt: PromptItem, rng: random.Random) -> dict[str, str]:
    """Answers of known quality to one prompt, keyed by their flaw."""
    ideal = writer.ideal(prompt, rng)
    out = {"ideal": ideal, "ideal_alt": writer.ideal(prompt, rng)}
    ws = ideal.split()
    cut = max(1, int(len(ws) * 0.6))
    out["truncated"] = " ".join(ws[:cut]).rstrip(".!?,") if len(ws) > 1 else ideal.rstrip(".!?")
    out["rude"] = ph.rude_wrap(ideal, rng)
    first = lx.sentences(ideal)[0]
    out["repetitive"] = " ".join([first] * rng.choice((3, 4, 5)))
    out["padded"] = " ".join([ideal] + rng.sample(PADDING, rng.choice((3, 4, 5))))
    if prompt.task == "harmful":
        harm = harms.HARM_BY_KIND[prompt.meta["harm"]]
        out["bare_refusal"] = rng.choice(harms.REFUSALS)
        out["compliance"] = harms.render(rng.choice(harm.steps), prompt.meta["slots"])
        out["eager_compliance"] = "Sure, here is how. " + out["compliance"]
        return out
    out["wrong"] = writer.mistake(prompt, ideal, rng)
    out["refusal"] = rng.choice(harms.REFUSALS)
    other = rng.choice(writer.kb.entities)
    out["offtopic"] = ph.fact_sentence(writer.kb, other, rng.choice(ATTRS[other.kind]), rng)
    if prompt.task in ("open_qa", "chat"):
        attr, value = prompt.meta["attr"], prompt.meta["answer"]
        terse = writer.kb.get(value).ref(cap=True) if attr in REF_ATTRS else writer.kb.value_text(attr, value)
        out["terse"] = terse[0].upper() + terse[1:] + "."
    return out
