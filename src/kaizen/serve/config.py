"""``kaizen serve`` configuration: one frozen dataclass, its field docstrings are ``--help``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kaizen.config import arg
from kaizen.prompting.serve import PromptingConfig
from kaizen.safety.config import SafetyConfig

ROLES: tuple[str, ...] = ("user", "labeler", "admin")  # each role includes the ones before it


@dataclass(frozen=True)
class ServeConfig:
    """Serve a model: OpenAI-compatible API, web chat, labeling and admin, on one port."""

    model: str | None = arg(None, "Model directory (or hub id) to serve; positional.")
    name: str | None = arg(None, "The model's name in /v1/models, the UI, stored messages and exported rows; default: "
                                 "from its run's kaizen_model.json (e.g. ppo_ptx-round-2), else the run directory's name.")
    models: list[str] = arg([], "More models to serve beside MODEL, each DIR or NAME=DIR; a request picks one by "
                                "name (the OpenAI 'model' field, the chat's model picker).")
    served_model_name: str | None = arg(None, "Model id in the API (as vLLM's flag; --name is the same); with "
                                              "--registry, the prefix of the versioned name.")
    host: str = arg("127.0.0.1", "Interface to listen on (0.0.0.0 for every interface).")
    port: int = arg(8000, "TCP port.")
    db_url: str = arg("sqlite:///kaizen-serve.db",
                      "SQLAlchemy URL of the feedback store (SQLite file relative to the working directory, "
                      "or postgresql+psycopg://...). It outlives the model: serve a retrained model on the same DB.")
    engine: Literal["transformers", "vllm"] = arg("transformers", "Inference engine; vllm needs a GPU and `pip install vllm`.")
    device: str = arg("auto", "Torch device for the transformers engine: auto, cpu, cuda, cuda:1, mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = arg("auto", "Weights dtype (auto: the checkpoint's).")
    threads: int = arg(0, "CPU threads for the transformers engine (0: torch's default). On a busy shared CPU, "
                          "1 is often fastest for small models.")
    max_batch_size: int = arg(16, "Most sequences decoded together in one forward pass.")
    batch_wait_ms: float = arg(5.0, "How long an idle engine waits for more requests to batch with the first one.")
    max_input_tokens: int = arg(0, "Longest accepted prompt in tokens; 0: the model's context length minus one.")
    max_body_bytes: int = arg(4 * 2**20, "Largest request body accepted, in bytes (413 beyond it); raise it for big "
                                          "admin task uploads.")
    max_new_tokens: int = arg(256, "Default answer length when a request gives no max_tokens (chat UI, /v1/chat).")
    rate_limit_per_minute: float = arg(600.0, "Requests per minute per key (token bucket refill); 0 disables limiting.")
    rate_limit_burst: int = arg(60, "Token bucket size: requests a key may send at once.")
    login_failures_per_user: int = arg(5, "Failed logins allowed per user name in --login_window_s before 429 "
                                          "(0: no limit).")
    login_failures_per_client: int = arg(20, "Failed logins allowed per client address in --login_window_s (0: no limit).")
    login_window_s: float = arg(900.0, "Window in which failed logins are counted, in seconds.")
    allowed_origins: list[str] = arg([], "Extra origins (https://chat.example.org) whose pages may send cookie-"
                                         "authenticated changes, e.g. behind a proxy that rewrites Host.")
    admin_name: str = arg("admin", "Name of the admin created on first start.")
    admin_key: str | None = arg(None, "API key for that admin (default: a random one, printed once).")
    admin_password: str | None = arg(None, "Password for that admin's browser login (default: none; set one later).")
    claim_minutes: float = arg(60.0, "How long a labeler's claim on a task lasts before others may take it.")
    request_filters: list[str] = arg([], "Request filters, in order, as module:callable returning a filter.")
    response_filters: list[str] = arg([], "Response filters, in order, as module:callable returning a filter.")
    registry: str | None = arg(None, "Model registry folder (kaizen loop): serve its promoted version and switch to "
                                     "a newly promoted one without dropping streams in flight.")
    registry_poll_s: float = arg(5.0, "How often the registry is checked for a newly promoted version.")
    add_user: str | None = arg(None, "Create this user in --db_url, print their API key and exit (no model needed).")
    role: Literal["user", "labeler", "admin"] = arg("user", "Role for --add_user.")
    password: str | None = arg(None, "Password for --add_user (browser login); default: API key only.")
    log_level: str = arg("info", "uvicorn log level.")
    prompting: PromptingConfig = arg(PromptingConfig, "Prompting strategies of /v1/chat/completions (--prompting.strategy, ...).")
    safety: SafetyConfig = arg(SafetyConfig, "Moderation and defences (--safety.moderation_model, ...); docs/safety.md.")
