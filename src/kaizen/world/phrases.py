"""Sentence templates shared by the corpus, the prompts and the demonstration writer.

Several templates per fact type, so a fact is learned from varied prose, not one fixed string.
Templates whose subject comes first (``{S} ...``) also work with a pronoun ("It eats fish.").
"""

from __future__ import annotations

import random
import re

from kaizen.world import lexicon as lx
from kaizen.world.knowledge import Entity, KnowledgeBase

# {S}: subject (capitalised name or pronoun), {s}: name mid-sentence, {v}: value, {b}: base verb of a sound.
FACT_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("creature", "color"): ("{S} is {v}.", "{S} has {v} fur.", "{S} has a {v} coat.", "The fur of {s} is {v}."),
    ("creature", "size"): ("{S} is a {v} animal.", "{S} is {v}.", "{S} is a {v} creature.",
                           "Even when fully grown, {s} is {v}."),
    ("creature", "habitat"): ("{S} lives in the {v}.", "You can find {s} in the {v}.",
                              "{S} makes its home in the {v}.", "Most of the time {s} stays in the {v}."),
    ("creature", "food"): ("{S} eats {v}.", "{S} feeds on {v}.", "The favorite food of {s} is {v}.",
                           "{S} likes to eat {v}."),
    ("creature", "sound"): ("{S} {v}.", "{S} {v} when it is happy.", "At night, {s} {v}.",
                            "You can hear {s} {b} at dusk."),
    ("plant", "color"): ("{S} has {v} flowers.", "The flowers of {s} are {v}.", "{S} is known for its {v} flowers."),
    ("plant", "habitat"): ("{S} grows in the {v}.", "You can find {s} in the {v}.", "{S} grows wild in the {v}."),
    ("plant", "use"): ("People use {s} to make {v}.", "{S} is used to make {v}.",
                       "In the villages, {s} is picked to make {v}."),
    ("plant", "season"): ("{S} blooms in {v}.", "{S} flowers in {v}.", "In {v}, {s} is in bloom."),
    ("town", "region"): ("{S} lies in the {v}.", "{S} is a town in the {v}.", "{S} is in the {v} of the land."),
    ("town", "product"): ("{S} is known for its {v}.", "The people of {s} make {v}.", "{S} is famous for {v}."),
    ("town", "day"): ("The market in {s} is on {v}.", "{S} holds its market every {v}.",
                      "Every {v}, traders fill the market of {s}."),
    ("person", "job"): ("{S} is a {v}.", "{S} works as a {v}.", "By trade, {s} is a {v}."),
    ("person", "home"): ("{S} lives in {v}.", "{S} comes from {v}.", "{S} has a house in {v}."),
    ("person", "pet"): ("{S} keeps a {v} as a pet.", "{S} has a pet {v}.", "{S} looks after a pet {v} at home."),
}

QUESTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("creature", "color"): ("What color is {s}?", "What color is the fur of {s}?", "Which color does {s} have?"),
    ("creature", "size"): ("How big is {s}?", "What size is {s}?", "How large does {s} grow?"),
    ("creature", "habitat"): ("Where does {s} live?", "Where can I find {s}?", "In what kind of place does {s} live?"),
    ("creature", "food"): ("What does {s} eat?", "What is the favorite food of {s}?", "What does {s} feed on?"),
    ("creature", "sound"): ("What sound does {s} make?", "What noise does {s} make?", "How does {s} sound?"),
    ("plant", "color"): ("What color are the flowers of {s}?", "What color is {s}?", "Which color are {s} flowers?"),
    ("plant", "habitat"): ("Where does {s} grow?", "Where can I find {s}?", "In what kind of place does {s} grow?"),
    ("plant", "use"): ("What is {s} used for?", "What do people make with {s}?", "What can you make from {s}?"),
    ("plant", "season"): ("When does {s} bloom?", "In which season does {s} flower?", "When is {s} in bloom?"),
    ("town", "region"): ("Where is {s}?", "In which part of the land is {s}?",
                         "Is {s} in the north, south, east or west?"),
    ("town", "product"): ("What is {s} known for?", "What do the people of {s} make?", "What is {s} famous for?"),
    ("town", "day"): ("On which day is the market in {s}?", "When is market day in {s}?",
                      "What day does {s} hold its market?"),
    ("person", "job"): ("What does {s} do for a living?", "What is the job of {s}?", "What is {s}'s trade?"),
    ("person", "home"): ("Where does {s} live?", "Which town is {s} from?", "In which town does {s} live?"),
    ("person", "pet"): ("What pet does {s} have?", "What animal does {s} keep as a pet?", "Does {s} have a pet?"),
}

# Follow-up questions in a chat, where "it"/"she"/"he" is only resolved by the earlier turns.
PRONOUN_QUESTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("creature", "color"): ("What color is it?",), ("creature", "size"): ("How big is it?",),
    ("creature", "habitat"): ("Where does it live?",), ("creature", "food"): ("What does it eat?",),
    ("creature", "sound"): ("What sound does it make?",), ("plant", "color"): ("What color are its flowers?",),
    ("plant", "habitat"): ("Where does it grow?",), ("plant", "use"): ("What is it used for?",),
    ("plant", "season"): ("When does it bloom?",),
    ("town", "region"): ("Where is it?", "In which part of the land is it?"),
    ("town", "product"): ("What is it known for?",), ("town", "day"): ("When is the market there?",),
    ("person", "job"): ("What does {p} do for a living?",), ("person", "home"): ("Where does {p} live?",),
    ("person", "pet"): ("What pet does {p} have?",),
}

# "Why is the zorvik red?" when it is blue: a question with a false premise.
FALSE_PREMISE: dict[tuple[str, str], str] = {
    ("creature", "color"): "Why is {s} {w}?", ("creature", "habitat"): "Why does {s} live in the {w}?",
    ("creature", "food"): "Why does {s} eat {w}?", ("plant", "season"): "Why does {s} bloom in {w}?",
    ("plant", "use"): "Why do people make {w} from {s}?", ("town", "day"): "Why is the market in {s} on {w}?",
    ("town", "product"): "Why is {s} famous for {w}?", ("person", "job"): "Why does {s} work as a {w}?",
}

# Sentences that name an entity but claim nothing checkable (corpus and summary-source filler).
FILLERS: dict[str, tuple[str, ...]] = {
    "creature": ("Children like to draw {s}.", "Many old songs are about {s}.", "Some say {s} brings good luck.",
                 "Travelers often write about {s}.", "{S} is shy around people."),
    "plant": ("Old healers wrote about {s}.", "Some families grow {s} in their gardens.",
              "{S} has a gentle smell.", "Many travelers stop to look at {s}."),
    "town": ("Travelers like the old square of {s}.", "{S} has a quiet harbor road and a tall old tower.",
             "Many visitors come to {s} every year.", "The streets of {s} are narrow and old."),
    "person": ("{S} is well liked by the neighbors.", "{S} often helps friends.", "{S} likes long walks.",
               "{S} tells good stories in the evening."),
}


def fact_sentence(kb: KnowledgeBase, e: Entity, attr: str, rng: random.Random, pronoun: bool = False,
                  value: str | None = None) -> str:
    """One sentence stating ``attr`` of ``e`` (or a given, possibly false, ``value``)."""
    value = e.attrs[attr] if value is None else value
    options = FACT_TEMPLATES[(e.kind, attr)]
    if pronoun:
        options = tuple(t for t in options if t.startswith("{S}"))
    text = rng.choice(options)
    v = kb.value_text(attr, value)
    b = lx.SOUND_BASE.get(value, ("", ""))[0]
    out = text.format(S=e.subj() if pronoun else e.ref(cap=True), s=e.ref(), v=v, b=b)
    return articles(out[0].upper() + out[1:])


_A_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")


def articles(text: str) -> str:
    """"a orange coat" -> "an orange coat"."""
    return _A_VOWEL.sub(lambda m: m.group(1) + "n ", text)


def question(e: Entity, attr: str, rng: random.Random) -> str:
    """A question asking for ``attr`` of ``e``, by name."""
    return rng.choice(QUESTIONS[(e.kind, attr)]).format(s=e.ref())


def pronoun_question(e: Entity, attr: str, rng: random.Random) -> str:
    """The same question with a pronoun ("What does it eat?"): only the chat's context says who."""
    return rng.choice(PRONOUN_QUESTIONS[(e.kind, attr)]).format(p=e.pronoun)


def filler(e: Entity, rng: random.Random) -> str:
    """A sentence about ``e`` that states no fact."""
    out = rng.choice(FILLERS[e.kind]).format(S=e.ref(cap=True), s=e.ref())
    return out[0].upper() + out[1:]


def summary_sentence(kb: KnowledgeBase, e: Entity, attrs: list[str]) -> str:
    """All of ``attrs`` in one sentence: "The zorvik is a small blue animal that lives in the marsh."."""
    a = {k: kb.value_text(k, e.attrs[k]) for k in attrs}
    clauses: list[str] = []
    if e.kind == "creature":
        adjectives = " ".join(x for x in (a.get("size"), a.get("color")) if x)
        head = f"a {adjectives} animal" if adjectives else "an animal"
        if "habitat" in a:
            clauses.append(f"lives in the {a['habitat']}")
        if "food" in a:
            clauses.append(f"eats {a['food']}")
        if "sound" in a:
            clauses.append(a["sound"])
    elif e.kind == "plant":
        head = f"a plant with {a['color']} flowers" if "color" in a else "a plant"
        if "habitat" in a:
            clauses.append(f"grows in the {a['habitat']}")
        if "season" in a:
            clauses.append(f"blooms in {a['season']}")
        if "use" in a:
            clauses.append(f"is used to make {a['use']}")
    elif e.kind == "town":
        head = f"a town in the {a['region']}" if "region" in a else "a town"
        if "product" in a:
            clauses.append(f"is known for its {a['product']}")
        if "day" in a:
            clauses.append(f"holds its market on {a['day']}")
    else:
        head = f"a {a['job']}" if "job" in a else "someone"
        if "home" in a:
            clauses.append(f"lives in {a['home']}")
        if "pet" in a:
            clauses.append(f"keeps a {a['pet']} as a pet")
    if not clauses:
        return articles(f"{e.ref(cap=True)} is {head}.")
    tail = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
    return articles(f"{e.ref(cap=True)} is {head} {'who' if e.kind == 'person' else 'that'} {tail}.")


def join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


REVIEW_OPENERS = ("I went to the {day} market in {town}.", "Last {day} I visited the market in {town}.",
                  "We traveled to {town} for its famous {product}.", "I spent a {day} at the market of {town}.")
REVIEW_GOOD = ("I loved the {product} there.", "I bought some {product} and it was worth every coin.",
               "The traders were kind and the prices were fair.", "Everything was fresh and well made.",
               "What a lovely market!", "I will come back next {day}.", "Five stars.")
REVIEW_BAD = ("I did not like the {product} at all, and the prices were too high.",
              "The traders were unfriendly and slow.",
              "I waited for hours and left with nothing.", "The square was dirty and crowded.",
              "I will not come back.", "What a waste of a {day}.", "One star.")


def review(kb: KnowledgeBase, town: Entity, positive: bool, rng: random.Random) -> str:
    """A market review whose sentiment is clear to a reader (classification prompts, corpus)."""
    slots = {"town": town.name, "day": town.attrs["day"].capitalize(), "product": town.attrs["product"]}
    body = rng.sample(REVIEW_GOOD if positive else REVIEW_BAD, rng.choice((2, 3)))
    return " ".join([rng.choice(REVIEW_OPENERS)] + body).format(**slots)


def rude_wrap(sentence: str, rng: random.Random) -> str:
    """A plain sentence wrapped in a mild insult, before, after or both."""
    how = rng.random()
    if how < 0.4:
        return f"{rng.choice(lx.RUDE_OPENERS)} {sentence}"
    if how < 0.8:
        return f"{sentence} {rng.choice(lx.RUDE_CLOSERS)}"
    return f"{rng.choice(lx.RUDE_OPENERS)} {sentence} {rng.choice(lx.RUDE_CLOSERS)}"
