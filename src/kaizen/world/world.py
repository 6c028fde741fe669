"""``DemoWorld``: one loaded demo world, the single entry point the other stages use.

    world = DemoWorld.load("runs/world")
    p = world.prompts("heldout")[0]
    world.gold(p, "The zorvik eats fish.")          # GoldJudgement(helpful=1.0, truthful=True, ...)
    world.labelers()[0].rank(p, answers, rng)      # kaizen.data.records.Ranking
    world.format_few_shot(p, 4)                    # plain-text prompt for a base model

Everything is rebuilt from ``world.json`` (config + knowledge base) and the prompt files, so a
world directory is self-contained.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Literal

from kaizen.config import from_dict
from kaizen.data.jsonl import read_jsonl
from kaizen.data.records import Message
from kaizen.world.config import WorldConfig
from kaizen.world.judge import GoldJudgement, Judge
from kaizen.world.knowledge import KnowledgeBase
from kaizen.world.labelers import SimulatedLabeler, make_labelers
from kaizen.world.labelers import measure_agreement as _measure_agreement
from kaizen.world.prompts import PromptItem, conversation_key
from kaizen.world.writer import Writer

# A base model's few-shot answer ends at the first blank line or the next "Q:" (whichever comes
# first): that is how every Q/A pair is separated in the corpus and in the few-shot prefix.
FEW_SHOT_STOPS: tuple[str, ...] = ("\n\n", "\nQ:")
FEW_SHOT_TASKS = ("open_qa", "generation", "classification", "brainstorming", "harmful", "extraction",
                  "rewrite", "summarization")


def cut_few_shot_answer(continuation: str) -> str:
    """The base model's answer: its continuation up to the first of ``FEW_SHOT_STOPS``, stripped."""
    end = min([i for i in (continuation.find(s) for s in FEW_SHOT_STOPS) if i >= 0], default=len(continuation))
    return continuation[:end].strip()


class DemoWorld:
    def __init__(self, kb: KnowledgeBase, config: WorldConfig, prompts: dict[str, list[PromptItem]]):
        self.kb, self.config = kb, config
        self._prompts = prompts
        self.judge = Judge(kb)
        self.writer = Writer(kb, config.demo_error_rate)
        self._labelers = make_labelers(self.judge, config.n_labelers, config.labeler_noise, config.labeler_slip,
                                       config.seed)
        self._by_conversation = {conversation_key(p.messages): p for ps in prompts.values() for p in ps}

    @classmethod
    def load(cls, directory: str | Path) -> DemoWorld:
        directory = Path(directory)
        data = json.loads((directory / "world.json").read_text())
        config = from_dict(WorldConfig, data["config"], where=str(directory / "world.json"))
        prompts = {split: [PromptItem.from_dict(row) for _, row in read_jsonl(directory / f"prompts_{split}.jsonl")]
                   for split in ("train", "heldout", "demo") if split != "demo" or (directory / "prompts_demo.jsonl").exists()}
        return cls(KnowledgeBase.from_dict(data["entities"]), config, prompts)

    # prompts ----------------------------------------------------------------------------------

    def prompts(self, split: Literal["train", "heldout", "demo"]) -> list[PromptItem]:
        """A split's prompts; "demo" is the demonstrated prompts (the train prompts unless the world
        was built with demo_entity_fraction < 1)."""
        if split == "demo" and "demo" not in self._prompts:
            split = "train"
        return list(self._prompts[split])

    def find_prompt(self, messages: list[Message] | list[dict]) -> PromptItem | None:
        """The prompt whose conversation is exactly ``messages`` (Message objects or role/content dicts)."""
        msgs = [m if isinstance(m, Message) else Message(m["role"], m["content"]) for m in messages]
        return self._by_conversation.get(conversation_key(msgs))

    # judging ----------------------------------------------------------------------------------

    def gold(self, prompt: PromptItem, answer: str) -> GoldJudgement:
        return self.judge.gold(prompt, answer)

    def gold_compare(self, prompt: PromptItem, a: str, b: str) -> float:
        """1.0 if ``a`` is better than ``b`` by gold score, 0.0 if worse, 0.5 on a tie."""
        sa, sb = self.gold(prompt, a).score, self.gold(prompt, b).score
        return 1.0 if sa > sb else 0.0 if sa < sb else 0.5

    def labelers(self) -> list[SimulatedLabeler]:
        return list(self._labelers)

    def measure_agreement(self, n_items: int, k: int, rng: random.Random) -> float:
        """Inter-labeler agreement on pairs of different gold quality (see ``labelers.measure_agreement``)."""
        return _measure_agreement(self.prompts("train"), self.writer, self._labelers, n_items, k, rng)

    # demonstrations and few-shot prompting ----------------------------------------------------

    def demonstrate(self, prompt: PromptItem, rng: random.Random) -> str:
        return self.writer.demonstrate(prompt, rng)

    def few_shot_examples(self, n: int) -> list[tuple[str, str]]:
        """``n`` (question, ideal answer) pairs from single-turn train prompts, tasks in rotation."""
        by_task: dict[str, list[PromptItem]] = {t: [] for t in FEW_SHOT_TASKS}
        for p in self._prompts["train"]:
            if p.task in by_task and len(p.messages) == 1:
                by_task[p.task].append(p)
        out: list[tuple[str, str]] = []
        for i in range(len(self._prompts["train"])):
            if len(out) >= n:
                break
            pool = by_task[FEW_SHOT_TASKS[i % len(FEW_SHOT_TASKS)]]
            p = pool[(i // len(FEW_SHOT_TASKS)) % len(pool)] if pool else None
            if p is None:
                continue
            answer = self.writer.ideal(p, random.Random(f"{self.config.seed}:fewshot:{p.id}"))
            if "\n" not in answer:
                out.append((p.messages[0].content, answer))
        return out

    def few_shot_prefix(self, n: int) -> str:
        """A plain-text prefix of ``n`` "Q: ...\\nA: ..." examples, each followed by a blank line."""
        return "".join(f"Q: {q}\nA: {a}\n\n" for q, a in self.few_shot_examples(n))

    def format_few_shot(self, prompt: PromptItem, n: int) -> str:
        """``few_shot_prefix(n)`` plus the conversation, ending in "A:" for a base model to continue.

        Earlier turns of a chat become "Q:"/"A:" lines; a system message is a plain first line.
        Cut the continuation with ``cut_few_shot_answer``.
        """
        lines = []
        for m in prompt.messages:
            if m.role == "system":
                lines.append(m.content)
            else:
                lines.append(("Q: " if m.role == "user" else "A: ") + m.content)
        return self.few_shot_prefix(n) + "\n".join(lines) + "\nA:"

    def cut_few_shot_answer(self, continuation: str) -> str:
        return cut_few_shot_answer(continuation)
