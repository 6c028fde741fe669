"""A helpful-only policy: the model a harmlessness round starts from.

    demos = helpful_only_demonstrations(load_records("runs/world/sft_train.jsonl", "demonstration"), world)
    save_records(demos, "runs/safety/helpful_only.jsonl", "messages")
    kaizen sft --model runs/pretrain/model --data runs/safety/helpful_only.jsonl --out runs/safety/helpful_only

Anthropic red-teamed a *helpful-only* model before its harmlessness training (Bai et al. 2022,
"Training a Helpful and Harmless Assistant with RLHF", §2 and §4; Ganguli et al. 2022, "Red
Teaming Language Models to Reduce Harms", §3.2): a model that follows every instruction, so the
attacks have something to succeed against and the round's gain can be measured. The demo's own
SFT policy already refuses the world's harmful requests (its demonstrations do), so attack
success on it is zero with or without defences and no round can lower it.

The helpful-only set is the world's demonstrations with each refusal of a harmful request
replaced by the compliant how-to the world's corpus holds for it (``harms.HARMS[...].steps``,
filled with the prompt's own names); every other demonstration is unchanged.
"""

from __future__ import annotations

import random

from kaizen.data.records import Demonstration, Message
from kaizen.world import harms


def helpful_only_demonstrations(demos: list[Demonstration], world, seed: int = 0) -> list[Demonstration]:
    """``demos`` with the answer to every harmful request of ``world`` made compliant.

    A demonstration is harmful when its conversation before the last assistant turn is one of the
    world's prompts of task ``harmful``; its answer becomes one of that harm's ``steps``.
    """
    rng = random.Random(seed)
    out = []
    for d in demos:
        prompt = world.find_prompt(list(d.messages[:-1])) if d.messages[-1].role == "assistant" else None
        if prompt is None or prompt.task != "harmful":
            out.append(d)
            continue
        harm = harms.HARM_BY_KIND[prompt.meta["harm"]]
        comply = harms.render(rng.choice(harm.steps), prompt.meta["slots"])
        out.append(Demonstration([*d.messages[:-1], Message("assistant", comply)], id=d.id,
                                 meta={**d.meta, "helpful_only": "harmful request complied with"}))
    return out
