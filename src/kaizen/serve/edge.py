"""What every request meets before a route: a bounded body, valid Unicode, and the security headers.

    app.add_middleware(Edge, max_body_bytes=cfg.max_body_bytes)

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware, which buffers streamed answers and
hides client disconnects from the route). It reads the body up to the limit (413 beyond it, in
OpenAI's error shape, before the route or the tokenizer sees a byte), rejects a JSON body whose
strings hold a lone UTF-16 surrogate (400: such a string cannot be tokenized, stored in
PostgreSQL or sent back as UTF-8), then hands the body on; what the route reads after it (the
client's disconnect) comes from the client as before.

The numeric bounds every route shares live here too, so each field's range is stated once.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import Path, Query

from kaizen.serve.errors import APIError

ID_MAX = 2**31 - 1  # PostgreSQL's INTEGER: a larger id or offset is a 400, not an overflow in the driver
DRAIN_FACTOR = 16
MAX_TOKENS_MAX = 2**20  # far beyond any context; keeps arithmetic on it in machine integers

RowId = Annotated[int, Path(ge=1, le=ID_MAX)]
Offset = Annotated[int, Query(ge=0, le=ID_MAX)]
Limit = Annotated[int, Query(ge=1, le=ID_MAX)]

SECURITY_HEADERS = [
    # Framing is refused by header: a CSP in a <meta> tag cannot set frame-ancestors (CSP3 §6.4.2).
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# A surrogate reaches Python's json either as a \uD800-\uDFFF escape or as its 3-byte (CESU) encoding, which
# json.loads(bytes) decodes with 'surrogatepass'. Only bodies that hold one of these are parsed twice.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def bad_unicode(obj, where: str = "") -> str | None:
    """The path (``messages.0.content``) of the first string in ``obj`` that is not valid Unicode, else None."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return where or "body"
        return None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        path = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and bad_unicode(key) is not None:
            return path
        if (found := bad_unicode(value, path)) is not None:
            return found
    return None


def check_unicode(obj, param: str | None = None, where: str = "") -> None:
    """A 400 naming the field if a string in ``obj`` holds a lone surrogate."""
    if (found := bad_unicode(obj, where)) is not None:
        raise APIError(400, f"Invalid value for '{found}': the text holds a lone UTF-16 surrogate (not valid Unicode).",
                       param=param or found, code="invalid_unicode")


class Edge:
    def __init__(self, app, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((n, v) for n, v in SECURITY_HEADERS if n not in present)]}
            await send(message)

        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send_with_headers)
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._drain(receive)
            return await self._reject(send_with_headers, self._too_large())
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:  # a chunked body that never said its length
                chunks.clear()
                if message.get("more_body"):
                    await self._drain(receive)
                return await self._reject(send_with_headers, self._too_large())
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if _MAYBE_SURROGATE.search(body) and b"json" in headers.get(b"content-type", b""):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None  # the route's own parser reports malformed JSON
            try:
                check_unicode(parsed)
            except APIError as e:
                return await self._reject(send_with_headers, e)

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send_with_headers)

    async def _drain(self, receive) -> None:
        """Read the rest of a refused body without keeping it, so the client gets to read the 413 (closing
        on unread data resets the connection); past DRAIN_FACTOR x the limit the connection is just closed."""
        seen = 0
        while seen <= DRAIN_FACTOR * self.max_body_bytes:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return
            seen += len(message.get("body", b""))

    def _too_large(self) -> APIError:
        return APIError(413, f"The request body is larger than this server accepts ({self.max_body_bytes} bytes; "
                             "the server's --max_body_bytes).", code="request_too_large")

    @staticmethod
    async def _reject(send, err: APIError) -> None:
        body = json.dumps(err.body()).encode()
        await send({"type": "http.response.start", "status": err.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
