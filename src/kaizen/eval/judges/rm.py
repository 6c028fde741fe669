"""A reward model as a judge: its mean score per model, and a win wherever it scores one answer higher."""

from __future__ import annotations

from collections.abc import Sequence

from kaizen.eval.judges import Comparison
from kaizen.eval.metrics import compare_scores
from kaizen.eval.prompts import EvalPrompt


class RMJudge:
    name = "rm"

    def __init__(self, path: str, precision: str = "fp32"):
        self.path, self.precision = path, precision
        self._rm = None
        self._cache: dict[tuple[str, str], float] = {}

    @property
    def rm(self):
        if self._rm is None:  # loaded on first use: a judge list is built before any model is
            from kaizen.reward import load_reward_model

            self._rm = load_reward_model(self.path, precision=self.precision)
        return self._rm

    def score(self, prompts: Sequence[EvalPrompt], answers: Sequence[str]) -> list[float]:
        keys = [(p.id, a) for p, a in zip(prompts, answers, strict=True)]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            got = self.rm.score([prompts[i].messages for i in todo], [answers[i] for i in todo])
            self._cache.update({keys[i]: v for i, v in zip(todo, got)})
        return [self._cache[k] for k in keys]

    def compare(self, prompts: Sequence[EvalPrompt], a: Sequence[str], b: Sequence[str], **_) -> Comparison:
        return Comparison(compare_scores(self.score(prompts, a), self.score(prompts, b)))

    def metrics(self, prompts: Sequence[EvalPrompt], answers: Sequence[str]) -> dict[str, float]:
        s = self.score(prompts, answers)
        return {"rm_score": sum(s) / len(s)}
