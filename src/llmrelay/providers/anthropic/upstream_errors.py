"""What the Anthropic SDK raises, and what Anthropic reports mid-stream, turned into the
`ProviderError`s llmrelay's routes understand.

The same rules as the OpenAI side (`openai_sdk.upstream_errors`): every message here is shown to users and
logged, so none may carry the API key (`scrub`); upstream messages are passed on where they help
(a 400 says which parameter was wrong), but never for 401/403.

Anthropic's `overloaded_error` (HTTP 529, or an `error` event mid-stream) is "unavailable"
(503) with kind `overloaded`, so llmrelay's own Messages API can answer it as Anthropic does
(529 `overloaded_error`) while the other surfaces see a 503.
"""

from __future__ import annotations

import anthropic

from llmrelay.providers.base import (
    BadGenerationRequest,
    ProviderError,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llmrelay.providers.openai_sdk.upstream_errors import CLOSED_EARLY, safe_url, scrub

OVERLOADED = "overloaded"


def upstream_message(exc: anthropic.APIError) -> str:
    """The upstream's own words: `error.message` of its JSON, else its body, else the SDK's."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str) and message.strip():
            return message
    if isinstance(body, str) and body.strip():
        return body
    return exc.message


def translate(exc: anthropic.AnthropicError, *, api_key: str, streaming: bool) -> ProviderError:
    """The `ProviderError` for an SDK exception.

    `streaming` is True once the upstream answered 200 and events were being read: a broken
    connection then means the stream was cut short, not that the upstream is unreachable.
    """
    # APITimeoutError is an APIConnectionError: check it first.
    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamTimeout("The upstream API did not answer in time (LLMRELAY_UPSTREAM_TIMEOUT_SECONDS).")
    if isinstance(exc, anthropic.APIConnectionError):
        if streaming:
            return ProviderError(CLOSED_EARLY)
        where = safe_url(exc.request.url.copy_with(path="/"))
        return UpstreamUnavailable(f"Could not connect to the upstream API at {where}.")
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return UpstreamAuthError(
            f"The upstream API rejected llmrelay's key (HTTP {exc.status_code}); check ANTHROPIC_API_KEY."
        )
    if isinstance(exc, anthropic.APIStatusError):
        said = scrub(upstream_message(exc), api_key)
        status = exc.status_code
        if isinstance(exc, anthropic.RateLimitError):
            return UpstreamRateLimited(f"The upstream API is rate limiting llmrelay (HTTP 429): {said}")
        if isinstance(exc, anthropic.OverloadedError):
            return UpstreamUnavailable(f"The upstream API is overloaded (HTTP 529): {said}", kind=OVERLOADED)
        if 400 <= status < 500:
            return BadGenerationRequest(f"The upstream API refused the request (HTTP {status}): {said}")
        return ProviderError(f"The upstream API failed (HTTP {status}): {said}")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderError("The upstream API answered with data llmrelay could not read.")
    return ProviderError(f"The upstream API call failed: {scrub(str(exc), api_key)}")


def reported_failure(kind: str | None, message: str | None, *, api_key: str) -> ProviderError:
    """A failure the upstream reported as an `error` event of its stream."""
    said = scrub(message or "no reason given", api_key)
    if kind == "overloaded_error":
        return UpstreamUnavailable(f"The upstream API is overloaded: {said}", kind=OVERLOADED)
    if kind == "rate_limit_error":
        return UpstreamRateLimited(f"The upstream API is rate limiting llmrelay: {said}")
    return ProviderError(f"The upstream failed while answering: {said}")
