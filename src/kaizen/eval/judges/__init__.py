"""Judges: who says which answer is better. Each is its own piece; an evaluation takes any mix.

    gold                 the demo world's noise-free judge (needs --world)
    rm=PATH              a reward model: mean score per model, and a win when it scores higher
    llm=URL#model        pairwise LLM-as-judge through any OpenAI-compatible API, both orders
    human=URL            side-by-side comparison tasks in a running `kaizen serve`'s labeling UI

Every judge can ``compare`` two lists of answers (one outcome per prompt, see
``kaizen.eval.metrics``); pointwise judges also ``score`` single answers, and ``metrics`` adds
what only that judge knows (the gold judge's truthful rate, harmful compliance, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kaizen.eval.prompts import EvalPrompt


@dataclass
class Comparison:
    """Per-prompt outcomes of model A against model B (empty while a human judge's tasks are open)."""

    outcomes: list[float]
    details: dict = field(default_factory=dict)
    pending: bool = False


class Judge(Protocol):
    name: str

    def compare(self, prompts: Sequence[EvalPrompt], a: Sequence[str], b: Sequence[str], *,
                a_name: str = "a", b_name: str = "b") -> Comparison: ...

    def score(self, prompts: Sequence[EvalPrompt], answers: Sequence[str]) -> list[float] | None: ...

    def metrics(self, prompts: Sequence[EvalPrompt], answers: Sequence[str]) -> dict[str, float]: ...


def parse_judge(spec: str, world=None, api_key: str | None = None, out_dir=None, seed: int = 0, **options):
    """A judge from ``gold`` | ``rm=PATH`` | ``llm=URL#model`` | ``human=URL``."""
    kind, _, arg = spec.partition("=")
    kind = kind.strip()
    if kind == "gold":
        if world is None:
            raise ValueError("judge 'gold' is the demo world's judge: give --world")
        from kaizen.eval.judges.gold import GoldJudge

        return GoldJudge(world)
    if kind == "rm":
        if not arg:
            raise ValueError("judge 'rm' needs a reward model: rm=PATH")
        from kaizen.eval.judges.rm import RMJudge

        return RMJudge(arg, precision=options.get("precision", "fp32"))
    if kind == "llm":
        if not arg:
            raise ValueError("judge 'llm' needs an OpenAI-compatible endpoint: llm=http://host:port/v1#model")
        from kaizen.eval.judges.llm import LLMJudge

        return LLMJudge(arg, api_key=api_key, mode=options.get("llm_mode", "verdict"),
                        max_tokens=options.get("llm_max_tokens", 512))
    if kind == "human":
        if not arg:
            raise ValueError("judge 'human' needs the URL of a running kaizen serve: human=http://host:port")
        from kaizen.eval.judges.human import HumanJudge

        return HumanJudge(arg, api_key=api_key, out_dir=out_dir, replication=options.get("human_replication", 1),
                          seed=seed)
    raise ValueError(f"unknown judge '{spec}': use gold, rm=PATH, llm=URL#model or human=URL")
