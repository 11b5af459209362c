"""Errors under /v1 in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

OpenAI's SDKs pick their exception class from the HTTP status (400 BadRequestError, 401
AuthenticationError, 404 NotFoundError, 429 RateLimitError, 5xx InternalServerError) and show
`message`; tools also read `code` (`model_not_found`, `context_length_exceeded`…). So every
error on a /v1 path, including request validation and unknown routes, gets this body and a
matching status, while the rest of the app keeps FastAPI's `{"detail": …}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from llmrelay.limiter import LimitExceeded
from llmrelay.streams import Failure

V1_PREFIX = "/v1"

# Status -> (type, code) when nothing more precise is known; OpenAI's own words where it has them.
_BY_STATUS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("requests", "rate_limit_exceeded"),
    499: ("invalid_request_error", "client_closed_request"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "upstream_error"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "upstream_timeout"),
}

# Failure kinds from the providers, as OpenAI codes; and statuses OpenAI answers differently.
_CODE_BY_KIND = {"rate_limited": "rate_limit_exceeded", "internal": "internal_error"}
_STATUS_BY_KIND = {"context_length_exceeded": 400}
# A budget spent mid-answer (quota.py) is OpenAI's insufficient_quota, type and code alike.
_TYPE_BY_KIND = {"insufficient_quota": "insufficient_quota"}


class OpenAIError(HTTPException):
    """An error a /v1 client should see exactly so: status, message, type, param, code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=dict(headers) if headers else None)
        default_type, default_code = _BY_STATUS.get(status, _default_for(status))
        self.message = message
        self.type = type or default_type
        self.param = param
        self.code = code if code is not None else default_code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def _default_for(status: int) -> tuple[str, str | None]:
    return ("server_error", None) if status >= 500 else ("invalid_request_error", None)


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def is_v1_path(path: str) -> bool:
    return path == V1_PREFIX or path.startswith(V1_PREFIX + "/")


def from_http(exc: HTTPException) -> OpenAIError:
    """Any HTTPException (a 401 from the key check, a 404 for an unknown route…) in OpenAI's shape."""
    if isinstance(exc, OpenAIError):
        return exc
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return OpenAIError(exc.status_code, message, headers=exc.headers)


def from_limit(exc: LimitExceeded, headers: Mapping[str, str]) -> OpenAIError:
    """A key's limit, as OpenAI says it: `rate_limit_exceeded` (type requests or tokens), or
    `insufficient_quota` for a spent budget; both 429, so the SDKs raise RateLimitError."""
    if exc.limit == "budget":
        return OpenAIError(
            429, exc.message, type="insufficient_quota", code="insufficient_quota", headers=headers
        )
    kind = "tokens" if exc.limit == "tpm" else "requests"
    return OpenAIError(429, exc.message, type=kind, code="rate_limit_exceeded", headers=headers)


def from_failure(failure: Failure) -> OpenAIError:
    """A generation that failed, as the status and code a client of OpenAI would get."""
    status = _STATUS_BY_KIND.get(failure.kind, failure.status)
    code = _CODE_BY_KIND.get(failure.kind, failure.kind)
    return OpenAIError(
        status, failure.message, type=_TYPE_BY_KIND.get(failure.kind), param=failure.param, code=code
    )


def failure_body(failure: Failure) -> dict[str, Any]:
    """What goes into a stream once it has started (the status is already 200)."""
    return from_failure(failure).body()


def as_response(exc: OpenAIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


def error_response(failure: Failure) -> JSONResponse:
    """A generation that failed before it started, as the response an OpenAI client expects."""
    return as_response(from_failure(failure))


# pydantic names the members of a union in an error's location; they are not the client's params.
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def param_path(loc: Sequence[int | str]) -> str | None:
    """("body", "messages", 0, "content") -> "messages[0].content", as OpenAI names params."""
    parts = [p for p in loc if p not in ("body", "query", "path")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TYPE_TAGS or part.startswith("function-") or "[" in part or part[:1].isupper():
            # pydantic names union members ("str", "list[...]", a model class: "InputMessage"): no param.
            continue
        else:
            out += f".{part}" if out else part
    return out or None


def from_validation(exc: RequestValidationError) -> OpenAIError:
    """The first problem with the request, as a 400 naming the parameter (as OpenAI does)."""
    errors = exc.errors()
    if not errors:
        return OpenAIError(400, "The request is invalid.")
    # With a union (content: str | list of parts) pydantic reports one error per member; the
    # one that got deepest into the value is the one that says what is wrong with it.
    first = max(errors, key=lambda error: len(error.get("loc", ())))
    kind = first.get("type", "")
    param = param_path(first.get("loc", ()))
    if kind == "json_invalid":
        return OpenAIError(400, "We could not parse the JSON body of your request: it is not valid JSON.")
    if kind == "missing" and param is None:
        return OpenAIError(400, "The request needs a JSON body.")
    if kind == "extra_forbidden":
        return OpenAIError(
            400, f"Unrecognized request argument supplied: {param}.", param=param, code="unknown_parameter"
        )
    if kind == "missing":
        return OpenAIError(
            400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    return OpenAIError(
        400, f"Invalid value for '{param}': {first.get('msg', 'invalid')}.", param=param, code="invalid_value"
    )
