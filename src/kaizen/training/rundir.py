"""A run directory records how it was made: resolved config, package version, git commit, and (for
the stages that train a model) the model's name and version in ``kaizen_model.json``."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kaizen import __version__
from kaizen.config import dump_yaml
from kaizen.models.identity import MODEL_STAGES, write_model_card


def git_commit() -> str | None:
    """The commit of the Kaizen checkout in use (None when installed from a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def prepare_run_dir(out: str | Path, cfg: Any, stage: str) -> Path:
    """Create ``out`` and write ``config.yaml`` and ``run_info.json`` beside the outputs."""
    import torch
    import transformers

    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, path / "config.yaml")
    info: dict[str, Any] = {
        "stage": stage,
        "kaizen_version": __version__,
        "git_commit": git_commit(),
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    (path / "run_info.json").write_text(json.dumps(info, indent=2))
    if stage in MODEL_STAGES:  # the model's name and version for kaizen serve and exported rows
        write_model_card(path, stage, getattr(cfg, "model", None) or getattr(cfg, "policy", None))
    return path
