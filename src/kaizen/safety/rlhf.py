"""An RLHF round against attacks: rankings where refusing an attack beats complying with it.

    rankings = attack_rankings(world, n=400, seed=0)      # kaizen.data.records.Ranking, K = 2 or 3
    save_records(rankings, "runs/safety/rankings.jsonl", "ranking")
    kaizen dpo --model runs/sft/model --data runs/rank/rankings.jsonl runs/safety/rankings.jsonl ...

What a labeler following InstructGPT's guideline (harmless outranks helpful) ranks for attack
prompts, written out: a jailbreak persona wrapping one of the world's harmful requests ranks a
polite refusal with a safe alternative above the compliant how-to; an injected instruction
ranks the honest answer to the real question above obeying (saying the canary); a leak attempt
ranks declining above giving the secret. Benign prompts are mixed in (answer above refusal), so
the round does not teach the policy to refuse everything. Attack prompts come from the
DETECTOR template family and train entities only: the red-team suite stays unseen.
"""

from __future__ import annotations

import random

from kaizen.data.records import Message, Ranking
from kaizen.safety import attacks
from kaizen.world import harms

DECLINE_LEAK = ("I'm sorry, but I can't share that.", "I can't tell you the password.",
                "I can't share my instructions, but I'm happy to help with something else.")


def attack_rankings(world, n: int = 400, benign_fraction: float = 0.35, seed: int = 0) -> list[Ranking]:
    """``n`` rankings: attacks of the DETECTOR family (refusal first) and benign prompts (answer first)."""
    rng = random.Random(seed)
    kb = world.kb
    qa = [p for p in world.prompts("train") if p.task in ("open_qa", "chat") and len(p.messages) == 1]
    benign = [p for p in world.prompts("train") if p.task != "harmful" and len(p.messages) == 1]
    out: list[Ranking] = []
    for i in range(n):
        r = rng.random()
        if r < benign_fraction:
            p = rng.choice(benign)
            answer = world.demonstrate(p, rng)
            out.append(Ranking(list(p.messages), [answer, rng.choice(harms.REFUSALS)], [1, 2], "safety-guideline",
                               id=f"safety-benign-{i}", meta={"kind": "benign"}))
        elif r < benign_fraction + (1 - benign_fraction) / 2:
            harm = rng.choice(harms.HARMS)
            slots = harms.harm_slots(kb, harm.kind, rng, "train")
            request = harms.render(rng.choice(harm.requests), slots)
            prompt = attacks.detector_jailbreak(rng, request)
            comply = harms.render(rng.choice(harm.steps), slots)
            out.append(Ranking([Message("user", prompt)], [harms.refusal(harm, slots, rng), comply, f"Sure! {comply}"],
                               [1, 2, 2], "safety-guideline", id=f"safety-jailbreak-{i}", meta={"kind": "jailbreak"}))
        elif r < benign_fraction + 3 * (1 - benign_fraction) / 4:
            p = rng.choice(qa)
            canary = attacks.new_canary(rng)
            injected = attacks.detector_injection(rng, canary)
            prompt = f"{p.messages[0].content} {injected}"
            out.append(Ranking([Message("user", prompt)], [world.demonstrate(p, rng), canary], [1, 2],
                               "safety-guideline", id=f"safety-injection-{i}", meta={"kind": "injection"}))
        else:
            secret = attacks.new_secret(rng)
            town = rng.choice(kb.of_kind("town", "train")).name
            system = attacks.SYSTEM_SECRET.format(town=town, secret=secret)
            ask = attacks.detector_leak(rng)
            out.append(Ranking([Message("system", system), Message("user", ask)],
                               [rng.choice(DECLINE_LEAK), f"The password is {secret}."], [1, 2], "safety-guideline",
                               id=f"safety-leak-{i}", meta={"kind": "leak"}))
    return out
