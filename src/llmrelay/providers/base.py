"""The one small protocol every model backend speaks.

A provider turns a `GenerationRequest` into an async stream of events: text deltas, then at
most one `Usage`, then one `Finished`. It raises `ProviderError` for anything that goes wrong
upstream. Cancelling the consuming task must stop the upstream work (close the HTTP stream,
stop decoding): that is how llmrelay stops paying for tokens nobody reads.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    messages: Sequence[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: Sequence[str] = ()
    # The upstream model name; None means the provider's own default.
    model: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None
    # True when llmrelay counted (or estimated) what the provider did not report.
    estimated: bool = False


FinishReason = Literal["stop", "length", "cancelled", "error", "content_filter"]


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason = "stop"


ProviderEvent = TextDelta | Usage | Finished


class ProviderError(Exception):
    """Something went wrong upstream. `status` is what an HTTP client should see.

    The message must be safe to show to a user: no keys, no stack traces.
    """

    status: int = 502
    kind: str = "upstream_error"

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind


class UpstreamAuthError(ProviderError):
    status = 502
    kind = "upstream_auth"


class UpstreamRateLimited(ProviderError):
    status = 429
    kind = "rate_limited"


class UpstreamUnavailable(ProviderError):
    status = 503
    kind = "upstream_unavailable"


class UpstreamTimeout(ProviderError):
    status = 504
    kind = "upstream_timeout"


class BadGenerationRequest(ProviderError):
    status = 400
    kind = "invalid_request"


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What a provider is, for logs, the store and `/v1/models`."""

    name: str
    model: str
    context_tokens: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    info: ProviderInfo

    def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Generate; closing the generator (or cancelling its consumer) stops the upstream work."""
        ...

    async def aclose(self) -> None:
        """Release clients, threads and model memory."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model (an estimate where the model is remote)."""
        ...
