"""Serving: the model behind an OpenAI-compatible API, a web chat and a labeling tool (``kaizen serve``).

    kaizen serve runs/sft                    # API on :8000, chat UI at /, prints the admin key once
    kaizen export --out feedback/            # what users and labelers gave, as training files

Where things live:

- ``config.py``: ``ServeConfig`` (the flags). ``cli.py``: ``kaizen serve``. ``app.py``: ``create_app``.
- ``engine.py``: batched generation (continuous batching over a HF model); ``vllm_engine.py``: vLLM.
- ``openai_api.py``: ``/v1``. ``chat_api.py``, ``labeling_api.py``, ``admin_api.py``,
  ``account_api.py``: ``/api`` for the UI (documented in docs/serve-api.md).
- ``db.py``: tables and migrations (``migrations/``); ``store.py`` and ``tasks.py``: operations.
- ``auth.py``: keys, passwords, roles, rate limits. ``filters.py``: moderation / prompting hooks.
- ``export.py``: ``kaizen export``. ``static/``: the web UI.
"""
