"""Errors under /v1/messages in Anthropic's shape:
`{"type": "error", "error": {"type", "message"}, "request_id"}`.

Anthropic's SDKs pick their exception class from the HTTP status (400 BadRequestError, 401
AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 413 RequestTooLargeError,
429 RateLimitError, 529 OverloadedError, other 5xx InternalServerError) and show the message;
agents such as Claude Code read `error.type`. So every error on a /v1/messages path, including
request validation, the key check and unknown routes, gets this body and the matching status,
while the rest of /v1 keeps OpenAI's shape (`api/openai/errors.py`).

Failures of llmrelay's upstreams keep their status where Anthropic's SDKs know it (503, 504,
which they raise as ServiceUnavailableError / GatewayTimeoutError) with type `api_error`; an
upstream that is overloaded is Anthropic's own 529 `overloaded_error`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from llmrelay import logs
from llmrelay.streams import Failure

MESSAGES_PREFIX = "/v1/messages"

# Status -> Anthropic's error type (docs: "HTTP errors"); other 4xx are invalid requests.
TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

# Provider failure kinds that Anthropic answers with another status than llmrelay's default.
_STATUS_BY_KIND = {
    "overloaded": 529,
    # Anthropic answers a prompt over the context window with 400 ("prompt is too long").
    "context_length_exceeded": 400,
}


class AnthropicError(HTTPException):
    """An error a /v1/messages client should see exactly so: status, type, message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=dict(headers) if headers else None)
        self.message = message
        self.type = type or type_for(status)

    def body(self) -> dict[str, Any]:
        return error_body(self.type, self.message)


def type_for(status: int) -> str:
    if status in TYPE_BY_STATUS:
        return TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type, "message": message}, "request_id": logs.request_id.get()}


def is_messages_path(path: str) -> bool:
    return path == MESSAGES_PREFIX or path.startswith(MESSAGES_PREFIX + "/")


def from_http(exc: HTTPException) -> AnthropicError:
    """Any HTTPException (a 401 from the key check, a 404 for an unknown route…) in Anthropic's shape."""
    if isinstance(exc, AnthropicError):
        return exc
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return AnthropicError(exc.status_code, message, headers=exc.headers)


def from_failure(failure: Failure) -> AnthropicError:
    """A generation that failed, as the status and type a client of Anthropic would get."""
    status = _STATUS_BY_KIND.get(failure.kind, failure.status)
    return AnthropicError(status, failure.message)


def as_response(exc: AnthropicError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


def failure_body(failure: Failure) -> dict[str, Any]:
    """What an `error` event carries once a stream has started (the status is already 200)."""
    return from_failure(failure).body()


def field_path(loc: Sequence[int | str]) -> str:
    """("body", "messages", 0, "content") -> "messages.0.content", as Anthropic names fields."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    # pydantic names the members of a union ("str", "list[...]", "function-…"): not the client's.
    kept = [p for p in parts if not (p in _TYPE_TAGS or p.startswith("function-") or "[" in p)]
    return ".".join(kept)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def from_validation(exc: RequestValidationError) -> AnthropicError:
    """The first problem with the request as a 400, worded as Anthropic words it
    (`max_tokens: Field required`)."""
    errors = exc.errors()
    if not errors:
        return AnthropicError(400, "The request is invalid.")
    # With a union (content: str | list of blocks) pydantic reports one error per member; the
    # one that got deepest into the value is the one that says what is wrong with it.
    first = max(errors, key=lambda error: len(error.get("loc", ())))
    kind = first.get("type", "")
    where = field_path(first.get("loc", ()))
    if kind == "json_invalid":
        return AnthropicError(400, "The request body is not valid JSON.")
    if kind == "missing" and not where:
        return AnthropicError(400, "The request needs a JSON body.")
    if kind == "extra_forbidden":
        return AnthropicError(400, f"{where}: Extra inputs are not permitted")
    if not where:
        return AnthropicError(400, "The request body must be a JSON object.")
    return AnthropicError(400, f"{where}: {first.get('msg', 'invalid')}")
