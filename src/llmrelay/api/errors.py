"""Every error a client sees is JSON with a readable `detail`: never a stack trace or a secret.

Under /v1 the same errors take OpenAI's shape instead (`api/openai/errors.py`), and under
/v1/messages Anthropic's (`api/anthropic/errors.py`), so each API's SDKs raise their matching
exceptions. A request that needs the shared Redis while it is down is a 503 in that shape
(`shared_redis.StoreUnavailable`), saying so without naming where Redis is.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from llmrelay.api.anthropic import errors as anthropic_errors
from llmrelay.api.disconnect import ClientGone
from llmrelay.api.openai import errors as openai_errors
from llmrelay.limiter import LimitExceeded
from llmrelay.shared_redis import StoreUnavailable, describe, is_outage
from llmrelay.streams import Failure

log = logging.getLogger(__name__)


def describe_validation(exc: RequestValidationError) -> str:
    """One readable sentence per problem: `message (query): Field required`."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        if error.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON")
            continue
        parts.append(f"{name} ({where}): {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if anthropic_errors.is_messages_path(request.url.path):
        return anthropic_errors.as_response(anthropic_errors.from_validation(exc))
    if openai_errors.is_v1_path(request.url.path):
        return _openai(openai_errors.from_validation(exc))
    return JSONResponse({"detail": describe_validation(exc)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if anthropic_errors.is_messages_path(request.url.path):
        return anthropic_errors.as_response(anthropic_errors.from_http(exc))
    if openai_errors.is_v1_path(request.url.path):
        return _openai(openai_errors.from_http(exc))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if anthropic_errors.is_messages_path(request.url.path):
        internal = anthropic_errors.AnthropicError(500, "llmrelay hit an internal error; it is logged.")
        return anthropic_errors.as_response(internal)
    if openai_errors.is_v1_path(request.url.path):
        return _openai(openai_errors.OpenAIError(500, "llmrelay hit an internal error; it is logged."))
    return JSONResponse({"detail": "llmrelay hit an internal error; it is logged."}, status_code=500)


def _openai(exc: openai_errors.OpenAIError) -> JSONResponse:
    return openai_errors.as_response(exc)


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "The client went away."}, status_code=499)


def limit_headers(exc: LimitExceeded) -> dict[str, str]:
    headers = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    if exc.limit == "budget" and exc.retry_after is None:
        # A spent total budget does not come back by waiting: the OpenAI SDKs read this header
        # and do not retry.
        headers["x-should-retry"] = "false"
    return headers


async def _limit_exceeded(request: Request, exc: Exception) -> JSONResponse:
    """429 with Retry-After, and a sentence naming the limit and when it resets."""
    assert isinstance(exc, LimitExceeded)
    headers = limit_headers(exc)
    if anthropic_errors.is_messages_path(request.url.path):
        # Anthropic's SDKs read x-should-retry too: a spent budget is not retried.
        return anthropic_errors.as_response(
            anthropic_errors.AnthropicError(429, exc.message, headers=headers)
        )
    if openai_errors.is_v1_path(request.url.path):
        return _openai(openai_errors.from_limit(exc, headers))
    body = {"detail": exc.message, "limit": exc.limit, "retry_after": exc.retry_after}
    return JSONResponse(body, status_code=429, headers=headers)


def failure_response(request: Request, failure: Failure) -> JSONResponse:
    """A failure that is not the generation's (nothing started) in the surface's own shape."""
    if anthropic_errors.is_messages_path(request.url.path):
        return anthropic_errors.as_response(anthropic_errors.from_failure(failure))
    if openai_errors.is_v1_path(request.url.path):
        return openai_errors.error_response(failure)
    return JSONResponse({"detail": failure.message}, status_code=failure.status)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503: the request needed Redis and it is down (shared_redis.py logged it, once)."""
    assert isinstance(exc, StoreUnavailable)
    return failure_response(request, exc.failure)


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    """A Redis error no module translated: an outage is still a 503 (one line in the log, not a
    traceback); anything else is a bug, an internal error."""
    if not is_outage(exc):
        return await _unexpected_error(request, exc)
    log.warning(
        "%s %s: the shared store (Redis) is unavailable (%s)", request.method, request.url.path, describe(exc)
    )
    return failure_response(request, StoreUnavailable().failure)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClientGone, _client_gone)
    app.add_exception_handler(LimitExceeded, _limit_exceeded)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(RedisError, _redis_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
