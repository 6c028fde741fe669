"""The server's safety settings (``kaizen serve --safety.KEY``): which defences run, and their thresholds.

    kaizen serve runs/ppo/model --safety.moderation_model runs/moderation/model \
        --safety.detector_model runs/attack-detector/model --safety.delimit true --safety.reminder true \
        --safety.secrets "PLUM-4417" --safety.guard_system_prompt true

Every defence is off by default and switched on by its own key; each one's effect on attack
success and on false refusals is measured by ``kaizen redteam`` (docs/safety.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from kaizen.config import ConfigError, arg

REFUSAL = "I'm sorry, but I can't help with that."


@dataclass(frozen=True)
class SafetyConfig:
    """Moderation and defences against adversarial prompts, in front of and behind the model."""

    moderation_model: str | None = arg(None, "Moderation classifier directory (kaizen moderation train); enables "
                                             "/v1/moderations and the input/output moderation filters.")
    moderate_input: bool = arg(True, "Refuse a flagged request without calling the model (needs moderation_model).")
    moderate_output: bool = arg(True, "Withhold a flagged answer and send a refusal instead (needs moderation_model).")
    threshold: float = arg(0.5, "Score at or above which a moderation category is flagged.")
    thresholds: list[str] = arg([], "Per-category thresholds overriding `threshold`, as CATEGORY=SCORE "
                                    "(--safety.thresholds violence=0.3 hate=0.4).")
    detector_model: str | None = arg(None, "Attack detector directory (kaizen moderation train --task attacks): "
                                           "refuses injection, jailbreak and leak attempts.")
    detector_threshold: float = arg(0.5, "Score at or above which the attack detector refuses.")
    delimit: bool = arg(False, "Mark user text as data: escape role tags and delimiter look-alikes (###, \"\"\") "
                               "and tell the system turn not to follow instructions inside it.")
    reminder: bool = arg(False, "Repeat the system instructions in a final system turn after the user's, so "
                                "'ignore previous instructions' is not the last word.")
    secrets: list[str] = arg([], "Strings an answer must never contain, also spaced out, reversed, base64, hex, "
                                 "rot13 or leetspeak (API keys, passwords in the system prompt).")
    guard_system_prompt: bool = arg(False, "Also withhold answers that reproduce the request's system prompt "
                                           "(any run of 6 of its words, or it encoded as above).")
    refusal: str = arg(REFUSAL, "What the user gets instead of a refused request or a withheld answer.")
    log_file: str = arg("kaizen-safety.jsonl", "Where refusals and withheld answers are logged (JSONL, relative to "
                                               "the working directory); the admin page shows the latest.")

    def category_thresholds(self, categories) -> dict[str, float]:
        return parse_thresholds(self.thresholds, categories, self.threshold, "safety.thresholds")

    @property
    def enabled(self) -> bool:
        return bool(self.moderation_model or self.detector_model or self.delimit or self.reminder
                    or self.secrets or self.guard_system_prompt)


def parse_thresholds(specs: list[str], categories, default: float, key: str) -> dict[str, float]:
    """``["violence=0.3"]`` -> a threshold for every category (``default`` for the rest)."""
    out = {c: float(default) for c in categories}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            score = float(value)
        except ValueError:
            score = None
        if not sep or score is None or not 0.0 <= score <= 1.0:
            raise ConfigError(f"config key '{key}': {spec!r} must be CATEGORY=SCORE with a score in [0, 1]")
        if name not in out:
            raise ConfigError(f"config key '{key}': unknown category {name!r} (known: {', '.join(categories)})")
        out[name] = score
    return out
