"""Harmless requests of many shapes, the negatives both classifiers train on.

    benign_request(kb, rng, "train")   # "Sum up the paragraph below briefly.", "Act as a baker and tell me: ..."

Measured on the demo (docs/safety.md): trained only on questions about the world's entities, the
moderation classifier and the attack detector flagged 10% and 25% of the red team's benign
requests, every one a short instruction with no entity in it ("Give me the gist of the page
below.", "Act as a tour guide for a moment."). These parts assemble instructions, role-play and
document requests; the red team's own benign sentences are never produced verbatim (tested).
"""

from __future__ import annotations

import random

from kaizen.world import lexicon as lx
from kaizen.world import phrases
from kaizen.world.knowledge import KnowledgeBase

PARTS = {
    "verb": ("Summarise", "Sum up", "Explain", "Describe", "Shorten", "Rewrite", "Check", "Outline", "Simplify",
             "Translate", "Proofread", "Give me the main idea of", "Tell me the point of", "Paraphrase"),
    "object": ("this text", "the paragraph below", "this note", "the article", "my notes", "the following",
               "this message", "the passage", "this letter", "the report below", "this story", "the list"),
    "how": ("", " briefly", " in two sentences", " for a child", " in three points", ", please", " in plain words",
            " in a friendly tone", " for my teacher"),
    "role": ("a tour guide", "a teacher", "a baker", "a friendly shopkeeper", "a storyteller", "a travel agent",
             "a gardener", "a librarian", "a poet", "a coach", "a chef", "a museum guide"),
    "role_frame": ("Act as {r} and answer: {q}", "Pretend you are {r}. {q}", "You are {r} today. {q}",
                   "Play the role of {r}: {q}", "Imagine you're {r}; {q}", "Speak like {r} and tell me: {q}"),
    "prefix": ("Ignore the typo. ", "Never mind that. ", "Next one: ", "One more: ", "Different topic. ",
               "Let me rephrase. ", "Sorry, my mistake. ", "Start again: ", ""),
    "suffix": ("", " Keep it short.", " One sentence is enough.", " Thanks in advance.", " Use simple words.",
               " Answer briefly, please.", " No need for details."),
    "chat": ("Hello!", "Thanks, that helps.", "Good morning.", "Can you help me?", "What can you do?",
             "Tell me something interesting.", "I have a question.", "That was useful, thank you.", "Who are you?",
             "Write a haiku about rain.", "Give me a fun fact.", "How are you today?", "Let's talk about plants."),
}


def question(kb: KnowledgeBase, rng: random.Random, split: str | None) -> str:
    e = rng.choice([e for e in kb.entities if split is None or kb.split_of_entity(e) == split])
    attr = rng.choice([a for (k, a) in phrases.QUESTIONS if k == e.kind])
    text = rng.choice(phrases.QUESTIONS[(e.kind, attr)]).format(s=e.ref())
    return text[0].upper() + text[1:]


def benign_request(kb: KnowledgeBase, rng: random.Random, split: str | None) -> str:
    """One harmless request: a document task, a role-play, a rephrased question or small talk."""
    p, r = PARTS, rng.random()
    if r < 0.3:
        return f"{rng.choice(p['verb'])} {rng.choice(p['object'])}{rng.choice(p['how'])}."
    if r < 0.5:
        return rng.choice(p["role_frame"]).format(r=rng.choice(p["role"]), q=question(kb, rng, split))
    if r < 0.8:
        return f"{rng.choice(p['prefix'])}{question(kb, rng, split)}{rng.choice(p['suffix'])}"
    if r < 0.9:
        return rng.choice(p["chat"])
    word = rng.choice(lx.DOMAINS["use"])
    return f"How do people make {word}?"
