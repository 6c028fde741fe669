"""``Guard``: the switched-on defences composed, in front of and behind one model.

    guard = Guard.from_config(SafetyConfig(moderation_model="runs/moderation/model", delimit=True))
    verdict = guard.check_input(messages)          # moderation + attack detector on the raw request
    if verdict.allowed:
        answer = model(guard.prepare(messages))    # delimiting + reminder
        verdict = guard.check_output(answer, messages)   # secret / system prompt / moderation

The server's filters (kaizen.serve.safety) and the red-team runner (kaizen.safety.redteam) use
this one object, so what ``kaizen redteam`` measures is what ``kaizen serve`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from kaizen.safety import defences
from kaizen.safety.config import SafetyConfig
from kaizen.safety.metrics import flagged_categories


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    stage: str = "input"  # "input" | "output"
    rule: str | None = None  # "moderation" | "detector" | "secret" | "system_prompt"
    category: str | None = None
    score: float | None = None

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "stage": self.stage, "rule": self.rule, "category": self.category,
                "score": None if self.score is None else round(self.score, 4)}


ALLOWED_IN, ALLOWED_OUT = Verdict(True, "input"), Verdict(True, "output")


def system_prompt(messages: Sequence[dict]) -> str:
    """The caller's own system instructions (without the text the defences added)."""
    parts: list[str] = []
    for m in messages:
        if m["role"] != "system":
            continue
        text = m["content"]
        for added in (defences.DATA_POLICY, defences.REMINDER):
            text = text.replace(added, "")
        text = " ".join(text.split())
        if text and text not in parts:  # the reminder repeats the prompt: once is enough
            parts.append(text)
    return " ".join(parts)


def last_user_text(messages: Sequence[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


class Guard:
    def __init__(self, cfg: SafetyConfig, moderation=None, detector=None):
        self.cfg = cfg
        self.moderation = moderation  # TextClassifier | None
        self.detector = detector

    @classmethod
    def from_config(cls, cfg: SafetyConfig, moderation=None, detector=None) -> Guard:
        """Load the classifiers ``cfg`` names (unless given already loaded)."""
        from kaizen.safety.classifier import TextClassifier

        if moderation is None and cfg.moderation_model:
            moderation = TextClassifier.load(cfg.moderation_model)
        if detector is None and cfg.detector_model:
            detector = TextClassifier.load(cfg.detector_model)
        return cls(cfg, moderation, detector)

    def only(self, **switches) -> Guard:
        """The same classifiers with other switches (the red-team runner's one-defence-at-a-time rows)."""
        return Guard(replace(self.cfg, **switches), self.moderation, self.detector)

    @property
    def thresholds(self) -> dict[str, float]:
        return self.cfg.category_thresholds(self.moderation.labels if self.moderation else ())

    def moderate(self, texts: Sequence[str]) -> list[dict]:
        """OpenAI-shaped moderation results for ``texts`` (needs a moderation model)."""
        if self.moderation is None:
            raise RuntimeError("no moderation model configured (safety.moderation_model)")
        out = []
        for scores in self.moderation.scores(list(texts)):
            hits = set(flagged_categories(scores, self.thresholds))
            out.append({"flagged": bool(hits), "categories": {c: c in hits for c in scores},
                        "category_scores": {c: round(s, 6) for c, s in scores.items()},
                        "category_applied_input_types": {c: ["text"] for c in scores}})
        return out

    def _moderation_verdict(self, text: str, stage: str) -> Verdict | None:
        scores = self.moderation.scores([text])[0]
        hits = flagged_categories(scores, self.thresholds)
        return Verdict(False, stage, "moderation", hits[0], scores[hits[0]]) if hits else None

    def check_input(self, messages: Sequence[dict], documents: Sequence[str] = ()) -> Verdict:
        text = last_user_text(messages)
        if self.moderation is not None and self.cfg.moderate_input and text:
            verdict = self._moderation_verdict(text, "input")
            if verdict:
                return verdict
        if self.detector is not None:
            pieces = [t for t in (text, *documents) if t]
            for scores in self.detector.scores(pieces) if pieces else []:
                top = max(scores, key=scores.get)
                if scores[top] >= self.cfg.detector_threshold:
                    return Verdict(False, "input", "detector", top, scores[top])
        return ALLOWED_IN

    def prepare(self, messages: Sequence[dict], documents: Sequence[str] = ()) -> list[dict]:
        out = defences.delimit(messages, documents) if self.cfg.delimit else defences.attach_documents(messages, documents)
        return defences.remind(out) if self.cfg.reminder else out

    def check_output(self, text: str, messages: Sequence[dict]) -> Verdict:
        if self.cfg.secrets and defences.leaked(text, self.cfg.secrets):
            return Verdict(False, "output", "secret", "secret", 1.0)
        prompt = system_prompt(messages)
        if self.cfg.guard_system_prompt and prompt and defences.leaked(text, [prompt]):
            return Verdict(False, "output", "system_prompt", "system_prompt", 1.0)
        if self.moderation is not None and self.cfg.moderate_output and text.strip():
            verdict = self._moderation_verdict(text, "output")
            if verdict:
                return verdict
        return ALLOWED_OUT
