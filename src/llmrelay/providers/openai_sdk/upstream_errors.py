"""How an upstream's failure becomes a `ProviderError`: the one place that says so.

Upstream → llmrelay (the other direction, llmrelay's errors in OpenAI's shape for clients of
`/v1`, is `llmrelay.api`'s business). Shared by the `openai` (Responses API) and
`openai-compatible` (Chat Completions) backends: both talk through `AsyncOpenAI` and read the
streamed body the same way (`client.OpenAISDKProvider.stream`), so they fail the same ways:
an SDK exception before the body (`translate`), the connection lost while reading it
(`broken_stream`), a failure the upstream reported as an event (`reported_failure`), a body
that is not the API's events (`UNREADABLE`).

Every message here is shown to users (an HTTP `detail`, or an SSE `error` event) and logged,
so none may carry the API key. Upstream messages are passed on where they help (a 400 says
which parameter was wrong), but never for 401/403: OpenAI echoes (part of) the key there.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx2
import openai

from llmrelay.providers.base import (
    BadGenerationRequest,
    ProviderError,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

CLOSED_EARLY = "The upstream closed the stream before it finished."
UNREADABLE = "The upstream sent a stream llmrelay could not read."

# Anything shaped like an OpenAI key (sk-…, sk-proj-…), in case an upstream echoes one.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{4,}")
_MAX_UPSTREAM_MESSAGE = 300


def scrub(text: str, api_key: str) -> str:
    """`text` without the key (or anything key-shaped), and not overly long."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "[redacted]")
    text = _KEY_LIKE.sub("[redacted]", text).strip()
    if len(text) > _MAX_UPSTREAM_MESSAGE:
        text = text[: _MAX_UPSTREAM_MESSAGE - 1] + "…"
    return text


def upstream_message(exc: openai.APIError) -> str:
    """The upstream's own words: `error.message` of its JSON, else its body, else the SDK's."""
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return message
    if isinstance(body, str) and body.strip():
        return body
    return exc.message


def translate(exc: openai.OpenAIError, *, api_key: str, streaming: bool) -> ProviderError:
    """The `ProviderError` for an SDK exception.

    `streaming` is True once the upstream answered 200 and events were being read: a broken
    connection then means the stream was cut short, not that the upstream is unreachable.
    """
    # APITimeoutError is an APIConnectionError: check it first.
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout("The upstream API did not answer in time (LLMRELAY_UPSTREAM_TIMEOUT_SECONDS).")
    if isinstance(exc, openai.APIConnectionError):
        if streaming:
            return ProviderError(CLOSED_EARLY)
        return UpstreamUnavailable(f"Could not connect to the upstream API at {_where(exc)}.")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return UpstreamAuthError(
            f"The upstream API rejected llmrelay's key (HTTP {exc.status_code}); check OPENAI_API_KEY."
        )
    if isinstance(exc, openai.APIStatusError):
        said = scrub(upstream_message(exc), api_key)
        status = exc.status_code
        if isinstance(exc, openai.RateLimitError):
            return UpstreamRateLimited(f"The upstream API is rate limiting llmrelay (HTTP 429): {said}")
        if 400 <= status < 500:
            return BadGenerationRequest(f"The upstream API refused the request (HTTP {status}): {said}")
        return ProviderError(f"The upstream API failed (HTTP {status}): {said}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError("The upstream API answered with data llmrelay could not read.")
    if isinstance(exc, openai.APIError):
        # An error the upstream reported inside a 200 stream (`data: {"error": …}`).
        return ProviderError(f"The upstream failed while answering: {scrub(upstream_message(exc), api_key)}")
    return ProviderError(f"The upstream API call failed: {scrub(str(exc), api_key)}")


def broken_stream(exc: Exception) -> ProviderError:
    """A transport failure while reading a 200 stream's body (read outside the SDK)."""
    if isinstance(exc, httpx2.TimeoutException):
        return UpstreamTimeout("The upstream API did not answer in time (LLMRELAY_UPSTREAM_TIMEOUT_SECONDS).")
    return ProviderError(CLOSED_EARLY)


def reported_failure(message: str | None, code: str | None, *, api_key: str) -> ProviderError:
    """A failure the upstream reported as an event of its stream (`response.failed`, `error`)."""
    said = scrub(message or "no reason given", api_key)
    if code == "rate_limit_exceeded":
        return UpstreamRateLimited(f"The upstream API is rate limiting llmrelay: {said}")
    return ProviderError(f"The upstream failed while answering: {said}")


def safe_url(url: object) -> str:
    """scheme://host:port/path of `url`: its user-info or query could hold a secret."""
    parsed = urlsplit(str(url))
    host = parsed.hostname or ""
    if ":" in host:  # IPv6 keeps its brackets
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}".rstrip("/")


def _where(exc: openai.APIError) -> str:
    return safe_url(exc.request.url.copy_with(path="/"))
