"""A small JSON-over-HTTP client (stdlib only) for OpenAI-compatible endpoints and Kaizen's admin API.

    api = JsonAPI("http://127.0.0.1:8000", api_key="kz-...")
    api.post("/v1/chat/completions", {"model": "m", "messages": [...]})

Errors name the URL and the server's message; transient failures (connection refused, 429,
5xx) are retried with back-off, since an evaluation of hundreds of prompts should not die on one.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


class APIRequestError(RuntimeError):
    pass


def default_api_key() -> str | None:
    return os.environ.get("KAIZEN_API_KEY") or os.environ.get("OPENAI_API_KEY")


@dataclass(frozen=True)
class JsonAPI:
    base_url: str
    api_key: str | None = None
    timeout: float = 300.0
    retries: int = 3

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        url = self.base_url.rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as res:
                    return json.loads(res.read().decode())
            except urllib.error.HTTPError as e:
                detail = e.read().decode(errors="replace")[:500]
                if (e.code == 429 or e.code >= 500) and attempt < self.retries:
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                try:
                    detail = json.loads(detail).get("error", {}).get("message", detail)
                except (ValueError, AttributeError):
                    pass
                raise APIRequestError(f"{method} {url}: HTTP {e.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                if attempt < self.retries:
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                raise APIRequestError(f"{method} {url}: {getattr(e, 'reason', e)}") from None
        raise AssertionError("unreachable")

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def post(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body)


def split_endpoint(spec: str) -> tuple[str, str | None]:
    """``http://host:port/v1#model`` -> (``http://host:port/v1``, ``model``); the model may be absent."""
    url, _, model = spec.partition("#")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"'{spec}' is not an http(s) URL")
    return url.rstrip("/"), (model or None)


def chat_completion(api: JsonAPI, model: str, messages: list[dict], **params) -> dict:
    """The first choice of ``POST {base}/chat/completions`` (base ends in /v1)."""
    out = api.post("/chat/completions", {"model": model, "messages": messages, **params})
    try:
        return out["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise APIRequestError(f"{api.base_url}/chat/completions: no choices in the answer: {str(out)[:300]}") from None


def first_model(api: JsonAPI) -> str:
    """The first id of ``GET {base}/models``: the model a server serves when the spec names none."""
    data = api.get("/models").get("data") or []
    if not data:
        raise APIRequestError(f"{api.base_url}/models lists no model; name one as URL#model")
    return data[0]["id"]
