"""``kaizen serve``: the model behind an OpenAI-compatible API, a web chat and a labeling tool.

    kaizen serve runs/sft                                   # http://127.0.0.1:8000, prints the admin key once
    kaizen serve runs/sft --host 0.0.0.0 --db_url postgresql+psycopg://kaizen@db/kaizen
    kaizen serve --add-user alice --role labeler --password 'a long one'   # prints alice's key and exits

The API is described in docs/serve-api.md; /docs on the running server has the OpenAPI schema.
"""

from __future__ import annotations

import sys

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
    secret = ensure_admin(db, cfg.admin_name, key=cfg.admin_key, password=cfg.admin_password)
    if secret is not None and cfg.admin_key is None:
        print(f"kaizen serve: created admin '{cfg.admin_name}'; API key (shown once, keep it): {secret}", flush=True)

    import uvicorn

    from kaizen.serve.app import create_app
    from kaizen.serve.engine import load_engine

    engine = load_engine(cfg)
    app = create_app(cfg, engine, db)
    if version is not None:
        from kaizen.serve.registry import attach

        attach(app, cfg, version)
    print(f"kaizen serve: {engine.model_name} on http://{cfg.host}:{cfg.port} (db: {cfg.db_url})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, timeout_graceful_shutdown=5)
    return 0
