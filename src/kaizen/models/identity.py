"""A model's name and version, from the run that made it.

Every training stage writes ``kaizen_model.json`` into its run directory, beside ``model/``:

    {"name": "ppo_ptx", "version": "round-2", "stage": "ppo", "parent": "runs/sft/model", "created": "..."}

- ``name``: the run directory's name (``runs/demo/ppo_ptx`` -> ``ppo_ptx``), so SFT, PPO and
  PPO-ptx of one pipeline never share a name;
- ``version``: the registry version (``models/v3/...``, a folder with ``lineage.json``) or the
  loop round (``round-2/``) the run sits in, None outside both;
- ``parent``: the model it was trained from; ``stage``: pretrain | sft | rm | ppo | dpo.

``models.loading.save_pretrained`` copies it into ``model/``, so a copied model keeps its name.
``kaizen serve`` reads it (``identify``) to name the model in /v1/models, the web UI, every stored
message and so every exported row: ``ppo_ptx-round-2``. ``kaizen serve --name`` overrides it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODEL_CARD = "kaizen_model.json"
MODEL_STAGES = ("pretrain", "sft", "rm", "ppo", "dpo")  # the stages whose run directory holds a model
_VERSION_DIR = re.compile(r"^(v\d+|round-\d+)$")


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str | None = None
    stage: str | None = None
    parent: str | None = None

    @property
    def id(self) -> str:
        """The id clients see (the OpenAI ``model`` field): ``name-version``, or the name alone."""
        return f"{self.name}-{self.version}" if self.version else self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_of(run_dir: str | Path) -> str | None:
    """The registry version or loop round that ``run_dir`` sits in (up to three folders up), if any."""
    here = Path(run_dir).resolve()
    for d in [here, *here.parents][:4]:
        if _VERSION_DIR.match(d.name) and (d.name.startswith("round-") or (d / "lineage.json").exists()):
            return d.name
    return None


def write_model_card(run_dir: str | Path, stage: str, parent: str | None) -> Path:
    """Write ``run_dir/kaizen_model.json`` (see the module docstring); returns its path."""
    run_dir = Path(run_dir)
    card = {"name": run_dir.resolve().name, "version": version_of(run_dir), "stage": stage, "parent": parent,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = run_dir / MODEL_CARD
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def identify(model: str) -> ModelIdentity:
    """Who ``model`` (a model directory, a run directory or a hub id) is, from its run's card.

    Without a card (a model from elsewhere, or a run older than the cards) the name is the
    directory's; ``runs/sft/model`` is named after its run, ``sft``, not ``model``.
    """
    path = Path(model.rstrip("/")).expanduser()
    for d in (path, path.parent) if path.is_dir() else ():
        card = d / MODEL_CARD
        if card.is_file():
            try:
                data = json.loads(card.read_text())
            except ValueError:
                continue  # a damaged card names nothing; fall back to the directory
            if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"]:
                text = {k: v if isinstance(v, str) else None for k, v in data.items()}
                return ModelIdentity(data["name"], text.get("version") or version_of(d), text.get("stage"),
                                     text.get("parent"))
    if path.name == "model" and (path.parent / "run_info.json").is_file():  # a run from before the cards
        try:
            stage = json.loads((path.parent / "run_info.json").read_text()).get("stage")
        except (ValueError, AttributeError):
            stage = None
        return ModelIdentity(path.parent.resolve().name, version_of(path.parent), stage if isinstance(stage, str) else None)
    return ModelIdentity(path.name or model)
