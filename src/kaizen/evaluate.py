"""Moved to ``kaizen.eval`` (a package: models, prompts, judges, metrics); this name stays for old imports."""

from kaizen.eval.metrics import mean_ci95
from kaizen.eval.stage import EvalConfig, main, run

__all__ = ["EvalConfig", "main", "mean_ci95", "run"]
