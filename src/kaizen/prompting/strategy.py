"""One entry point for every strategy: a typed ``StrategySpec`` and the ``Toolkit`` it may need.

    spec = StrategySpec.parse("self_consistency@8")           # or StrategySpec.from_dict(request["kaizen"])
    results = run_strategy(spec, sampler, conversations, Toolkit(store=store, scorer=rm))

``NAME@K``: K is the number of samples for ``self_consistency``, ``best_of_n`` and
``generated_knowledge``, the number of examples for ``few_shot`` and ``cot``, and the step limit
for ``react``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, get_args

from kaizen.prompting import (best_of_n, cot, few_shot, generated_knowledge, react, self_consistency, tools,
                              zero_shot)
from kaizen.prompting.examples import ExamplePool, Selection
from kaizen.prompting.types import Sampler, Scorer, StrategyResult

STRATEGIES: tuple[str, ...] = ("zero_shot", "few_shot", "cot", "zero_shot_cot", "self_consistency",
                               "generated_knowledge", "react", "best_of_n")
_AT = {"self_consistency": "n", "best_of_n": "n", "generated_knowledge": "n", "few_shot": "shots", "cot": "shots",
       "react": "max_steps"}
DEFAULT_TEMPERATURE = {"self_consistency": 0.7, "best_of_n": 1.0, "generated_knowledge": 0.7}
MAX_SAMPLES = 64


class StrategyError(ValueError):
    """A strategy request that cannot be run; the message names the field."""


@dataclass(frozen=True)
class StrategySpec:
    strategy: str = "zero_shot"
    n: int = 8  # samples (self_consistency, best_of_n) or knowledge texts (generated_knowledge, default 1)
    temperature: float | None = None  # sampling temperature of the sampling strategies
    shots: int | None = None  # examples (few_shot: 3, cot: 2 when a pool is given, else 0)
    selection: Selection = "nearest"
    max_steps: int = 5  # react: most tool calls
    max_tokens: int | None = None  # per generated turn

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise StrategyError(f"strategy: '{self.strategy}' is not one of {', '.join(STRATEGIES)}")
        if not 1 <= self.n <= MAX_SAMPLES:
            raise StrategyError(f"n: {self.n} is not in 1..{MAX_SAMPLES}")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise StrategyError(f"temperature: {self.temperature} is not in [0, 2]")
        if self.shots is not None and not 0 <= self.shots <= 16:
            raise StrategyError(f"shots: {self.shots} is not in 0..16")
        if self.selection not in get_args(Selection):
            raise StrategyError(f"selection: '{self.selection}' is not one of fixed, random, nearest")
        if not 1 <= self.max_steps <= 20:
            raise StrategyError(f"max_steps: {self.max_steps} is not in 1..20")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise StrategyError(f"max_tokens: {self.max_tokens} must be at least 1")

    @property
    def label(self) -> str:
        """"self_consistency@8": how tables and plots name this spec."""
        key = _AT.get(self.strategy)
        if (key is None or (self.strategy == "generated_knowledge" and self.n == 1)
                or (self.strategy == "react" and self.max_steps == 5)):
            return self.strategy
        value = getattr(self, key)
        return f"{self.strategy}@{value}" if value is not None else self.strategy

    @classmethod
    def parse(cls, text: str) -> StrategySpec:
        name, _, k = text.strip().partition("@")
        if not k:
            return cls(name, n=1) if name == "generated_knowledge" else cls(name)
        if not k.isdigit():
            raise StrategyError(f"strategy '{text}': the part after @ must be a whole number")
        if name not in _AT:
            raise StrategyError(f"strategy '{text}': {name} takes no @K")
        return cls(name, **{_AT[name]: int(k)})

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "kaizen") -> StrategySpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StrategyError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
        types = {"strategy": str, "n": int, "temperature": (int, float), "shots": int, "selection": str,
                 "max_steps": int, "max_tokens": int}
        for key, value in data.items():
            if value is not None and (not isinstance(value, types[key]) or isinstance(value, bool)):
                raise StrategyError(f"{where}.{key}: expected {getattr(types[key], '__name__', 'a number')}, "
                                    f"got {type(value).__name__}")
        try:
            base = cls.parse(data["strategy"]) if "strategy" in data else cls()
            return replace(base, **{k: v for k, v in data.items() if k != "strategy"})
        except StrategyError as e:
            raise StrategyError(f"{where}.{e}") from None


@dataclass
class Toolkit:
    """What some strategies need beside the sampler; each is optional until a strategy asks for it."""

    pool: ExamplePool | None = None  # few-shot examples (direct answers)
    cot_pool: ExamplePool | None = None  # worked examples with reasoning (few-shot CoT)
    store: tools.DocumentStore | None = None  # ReAct's search
    scorer: Scorer | None = None  # best-of-N's reward model

    def react_tools(self) -> dict:
        out = {"calculate": tools.calculate}
        out["search"] = self.store.search if self.store is not None else (lambda q: "Error: no document store is configured")
        return out


def run_strategy(spec: StrategySpec, sampler: Sampler, conversations: Sequence[Sequence[dict]],
                 toolkit: Toolkit | None = None) -> list[StrategyResult]:
    kit = toolkit or Toolkit()
    s, label = spec.strategy, spec.label
    mt = {"max_tokens": spec.max_tokens} if spec.max_tokens else {}
    temperature = spec.temperature if spec.temperature is not None else DEFAULT_TEMPERATURE.get(s, 0.0)
    if s == "zero_shot":
        return zero_shot.run(sampler, conversations, **mt)
    if s == "few_shot":
        if kit.pool is None:
            raise StrategyError("strategy: few_shot needs an example pool (none is configured)")
        return few_shot.run(sampler, conversations, kit.pool, 3 if spec.shots is None else spec.shots, spec.selection, **mt)
    if s in ("cot", "zero_shot_cot"):
        shots = 0 if s == "zero_shot_cot" else (spec.shots if spec.shots is not None else (2 if kit.cot_pool else 0))
        if shots and kit.cot_pool is None:
            raise StrategyError("shots: few-shot chain-of-thought needs a pool of worked examples (none is configured)")
        return cot.run(sampler, conversations, kit.cot_pool, shots, spec.selection, name=label, **mt)
    if s == "self_consistency":
        shots = spec.shots or 0
        return self_consistency.run(sampler, conversations, spec.n, temperature, kit.cot_pool if shots else None, shots,
                                    spec.selection, name=label, **mt)
    if s == "generated_knowledge":
        return generated_knowledge.run(sampler, conversations, spec.n, temperature, name=label, **mt)
    if s == "react":
        return react.run(sampler, conversations, kit.react_tools(), spec.max_steps, name=label, **mt)
    if kit.scorer is None:
        raise StrategyError("strategy: best_of_n needs a reward model (none is configured)")
    return best_of_n.run(sampler, conversations, kit.scorer, spec.n, temperature, name=label, **mt)
