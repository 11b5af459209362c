"""Logging: one line per event, each with the id of the request it belongs to.

The request id lives in a context variable set by `RequestIdMiddleware`; a generation's task
is created inside the request, so it inherits the id and its log lines carry it too.
"""

from __future__ import annotations

import contextvars
import logging
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: str) -> None:
    """Root handler with request ids; idempotent, so tests can build many apps."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, "_llmrelay", False):
            return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    handler._llmrelay = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    # uvicorn's access log would repeat what we log, without the request id.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # The SDKs' HTTP clients log every upstream request at INFO ("HTTP Request: POST …"): a
    # second line per answer beside llmrelay's own, and 2.7% of the server's CPU per request at
    # one stream at a time (bench/notes.md). Shown at DEBUG.
    upstream_level = logging.DEBUG if logging.getLevelName(level) == logging.DEBUG else logging.WARNING
    for name in ("httpx2", "httpx"):
        logging.getLogger(name).setLevel(upstream_level)


class RequestIdMiddleware:
    """Takes `X-Request-ID` from the client (if sane) or makes one, and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = (
            given
            if given.isascii() and given.isprintable() and 0 < len(given) <= 64
            else secrets.token_hex(8)
        )
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
