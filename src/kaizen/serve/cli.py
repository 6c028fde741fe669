"""``kaizen serve``: the model behind an OpenAI-compatible API, a web chat and a labeling tool.

    kaizen serve runs/sft/model                             # http://127.0.0.1:8000, prints the admin key once
    kaizen serve runs/sft/model --models runs/ppo_ptx/model dpo=runs/dpo/model   # several, picked by name
    kaizen serve runs/sft --host 0.0.0.0 --db_url postgresql+psycopg://kaizen@db/kaizen
    kaizen serve --add-user alice --role labeler --password 'a long one'   # prints alice's key and exits

The API is described in docs/serve-api.md; /docs on the running server has the OpenAPI schema.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from kaizen.config import ConfigError, parse_config
from kaizen.serve.config import ServeConfig


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(ServeConfig, argv, prog="kaizen serve", positionals=["model"])
    from kaizen.serve.auth import create_user, ensure_admin
    from kaizen.serve.db import Database
    from kaizen.serve.errors import APIError

    db = Database(cfg.db_url)
    db.migrate()
    if cfg.add_user:
        try:
            with db.session() as s:
                user, secret = create_user(s, cfg.add_user, cfg.role, password=cfg.password)
        except APIError as e:
            print(f"kaizen serve: error: {e.message}", file=sys.stderr)
            return 2
        print(f"created {cfg.role} '{user.name}'; API key (shown once): {secret}")
        return 0
    version = None
    if cfg.registry:  # the promoted version; a watcher follows newer promotions (serve/registry.py)
        from kaizen.serve.registry import resolve

        cfg, version = resolve(cfg)
    if not cfg.model:
        raise ConfigError("config key 'model': give the model directory to serve (kaizen serve MODEL_DIR)")
    extra = [_named(spec) for spec in cfg.models]
    for path in [cfg.model] + [p for _, p in extra]:
        if problem := model_problem(path):
            print(f"kaizen serve: error: {problem}", file=sys.stderr)
            return 2
    secret = ensure_admin(db, cfg.admin_name, key=cfg.admin_key, password=cfg.admin_password)
    if secret is not None and cfg.admin_key is None:
        print(f"kaizen serve: created admin '{cfg.admin_name}'; API key (shown once, keep it): {secret}", flush=True)

    import uvicorn

    from kaizen.serve.app import create_app
    from kaizen.serve.engine import load_engine, served_name

    configs = [cfg] + [replace(cfg, model=path, name=name, served_model_name=None) for name, path in extra]
    names = [served_name(c) for c in configs]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        print(f"kaizen serve: error: two models are both called {', '.join(twice)}: name them with --models NAME=DIR "
              "(or --name for MODEL)", file=sys.stderr)
        return 2
    engines = []
    for c in configs:
        try:
            engines.append(load_engine(c))
        except (OSError, ValueError) as e:  # e.g. a hub id that does not exist: transformers' first line says why
            print(f"kaizen serve: error: cannot load model '{c.model}': {str(e).strip().splitlines()[0]}", file=sys.stderr)
            for loaded in engines:
                getattr(loaded, "close", lambda: None)()
            return 2
    engine = engines[0]
    app = create_app(cfg, engine, db, more_engines=engines[1:])
    if version is not None:
        from kaizen.serve.registry import attach

        attach(app, cfg, version)
    from kaizen.serve.account_api import LINK_MINUTES, issue_login_link

    if link := issue_login_link(app, db, cfg.admin_name):  # an admin without a password gets in with this once
        host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::", "") else cfg.host
        print(f"kaizen serve: sign in as '{cfg.admin_name}': http://{host}:{cfg.port}/login.html#link={link} "
              f"(one use, valid {LINK_MINUTES} min), then choose a password", flush=True)
    print(f"kaizen serve: {', '.join(names)} on http://{cfg.host}:{cfg.port} (db: {cfg.db_url})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, timeout_graceful_shutdown=5)
    return 0


def _named(spec: str) -> tuple[str | None, str]:
    """``NAME=DIR`` or ``DIR`` (named after its run) from ``--models``."""
    name, sep, path = spec.partition("=")
    if sep and name and "/" not in name:
        return name, path
    return None, spec


def model_problem(model: str) -> str | None:
    """Why ``model`` cannot be served as a chat model, in one line; None if it looks servable.

    Hub ids are not checked here (that needs the network); their load errors are caught in main.
    """
    path = Path(model).expanduser()
    if not path.exists():
        if model.startswith((".", "/", "~")) or model.count("/") > 1:
            return f"{model}: no such directory"
        return None  # a hub id such as Qwen/Qwen2.5-0.5B
    if not path.is_dir():
        return f"{model} is a file: give the model's directory (the one with config.json)"
    if not (path / "config.json").exists():
        if (path / "adapter_config.json").exists():
            try:
                peft_type = json.loads((path / "adapter_config.json").read_text()).get("peft_type")
            except ValueError:
                peft_type = None
            if peft_type == "PROMPT_TUNING":  # nothing to merge: the server has no path for the virtual tokens yet
                return (f"{model} is a prompt-tuning adapter (--prompt_tuning_tokens), which kaizen serve cannot "
                        "serve; kaizen.generation.generate runs it, or train with --lora_r for a servable model")
            return (f"{model} is a LoRA adapter, not a model: serve the merged model Kaizen saved beside it "
                    f"({path.parent / 'model'})")
        hint = f" (did you mean {path / 'model'}?)" if (path / "model" / "config.json").exists() else ""
        return f"{model} has no config.json: not a transformers model directory{hint}"
    try:
        config = json.loads((path / "config.json").read_text())
    except ValueError as e:
        return f"{path / 'config.json'} is not valid JSON: {e}"
    architectures = config.get("architectures") or []
    if "kaizen_reward_bias" in config or any(a.endswith("ForSequenceClassification") for a in architectures):
        return (f"{model} is a reward model ({', '.join(architectures) or 'sequence classifier'}): it scores answers "
                f"and cannot write them; serve a policy such as the SFT, PPO or DPO run's model/")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    # The saved class says what the weights are (a BertModel would load as an LM with a random head).
    causal = (any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures)
              if architectures else config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    if not causal:
        return f"{model} holds a '{config.get('model_type')}' model ({', '.join(architectures) or 'no architecture'}), not a causal LM"
    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
    if not any((path / f).exists() for f in tokenizer_files):
        return f"{model} has no tokenizer (none of {', '.join(tokenizer_files)})"
    return None
