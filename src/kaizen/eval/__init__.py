"""Evaluation as a room of its own: models, prompts, judges and metrics that any caller composes.

    from kaizen.eval import EvalConfig, run                    # the `kaizen eval` stage
    from kaizen.eval.stage import evaluate_models              # the reusable core (the loop's gate)
    from kaizen.eval.judges import parse_judge                 # gold | rm=PATH | llm=URL#model | human=URL

Layout: ``models`` (local chat / few-shot / endpoint), ``prompts``, ``judges/`` (gold, rm, llm,
human), ``metrics`` (pure statistics), ``rm_quality`` (reward-model report), ``monitors``
(reward-hacking alarms in PPO), ``benchmarks`` (lm-evaluation-harness), ``stage`` (the command).
"""

__all__ = ["EvalConfig", "evaluate_models", "main", "mean_ci95", "run"]


def __getattr__(name: str):
    # Resolved on first use: importing kaizen.eval.monitors (PPO's config) must not load the stage.
    if name == "mean_ci95":
        from kaizen.eval.metrics import mean_ci95

        return mean_ci95
    if name in ("EvalConfig", "evaluate_models", "main", "run"):
        from kaizen.eval import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'kaizen.eval' has no attribute {name!r}")
