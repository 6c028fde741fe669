"""``create_app``: one FastAPI app serving /v1 (OpenAI), /api (chat, labeling, admin) and the UI at /.

    app = create_app(cfg, engine)              # engine: TransformersEngine or VLLMEngine
    uvicorn.run(app, host=cfg.host, port=cfg.port)

Filters (moderation, prompting strategies) are given here or named in ``cfg``; see filters.py.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from kaizen import __version__
from kaizen.serve import account_api, admin_api, chat_api, errors, filters, labeling_api, openai_api, safety, tasks
from kaizen.serve.auth import LoginGuard, RateLimiter
from kaizen.serve.config import ServeConfig
from kaizen.serve.db import Database, Task
from kaizen.serve.edge import Edge
from kaizen.serve.runtime import ServerState

STATIC = Path(__file__).parent / "static"


def create_app(cfg: ServeConfig, engine, db: Database | None = None,
               request_filters: list | None = None, response_filters: list | None = None,
               more_engines: list | tuple = (), guard=None) -> FastAPI:
    """``engine`` is the default model; ``more_engines`` are served beside it, each picked by its name."""
    db = db or Database(cfg.db_url)
    guarded = safety.SafetyService(cfg.safety, guard)  # moderation first on the way in, last on the way out
    chain = filters.Filters(
        request=guarded.request_filters + tuple(request_filters if request_filters is not None else filters.load(cfg.request_filters)),
        response=tuple(response_filters if response_filters is not None else filters.load(cfg.response_filters)) + guarded.response_filters)
    state = ServerState(cfg, db, engine, chain, RateLimiter(cfg.rate_limit_per_minute, cfg.rate_limit_burst),
                        LoginGuard(cfg.login_failures_per_user, cfg.login_failures_per_client, cfg.login_window_s),
                        others={e.model_name: e for e in more_engines})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        db.migrate()
        with db.session() as s:  # answers still being sampled when the server last stopped
            pending = list(s.scalars(select(Task.id).where(Task.status == "generating")))
        tasks.schedule_generation(state, pending)
        yield
        for t in list(state.background):
            t.cancel()

    app = FastAPI(title="Kaizen", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="OpenAI-compatible API, chat, labeling and admin for a Kaizen model. "
                              "Guide: docs/serve-api.md.")
    app.state.kaizen = state
    app.state.kaizen_safety = guarded
    app.add_middleware(Edge, max_body_bytes=cfg.max_body_bytes)
    errors.install(app)
    for module in (openai_api, account_api, chat_api, labeling_api, admin_api, safety):
        app.include_router(module.router)
    app.include_router(openai_api.root)

    @app.get("/docs", include_in_schema=False)
    def docs():  # Swagger UI from static/vendor, not FastAPI's default CDN, so /docs works offline
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="Kaizen API",
                                   swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/vendor/swagger-ui/favicon-32x32.png")
    if (STATIC / "index.html").exists():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="ui")
    else:
        @app.get("/", include_in_schema=False)
        def no_ui():
            return HTMLResponse("<h1>Kaizen</h1><p>The web UI is not installed (src/kaizen/serve/static/). "
                                "The API is up: see <a href='/docs'>/docs</a>.</p>")
    return app
