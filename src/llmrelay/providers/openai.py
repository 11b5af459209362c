"""The `openai` backend: OpenAI's Responses API, streamed through `AsyncOpenAI`.

One request per generation: `responses.create(stream=True)` with the conversation as a message
list. Of the stream's many events, three kinds matter here: text deltas, the one terminal event
(`response.completed` / `response.incomplete`, with usage) and failures (`response.failed`,
`error`). A stream that ends without a terminal event was cut short, and says so.

The SDK sends the request; the streamed body is read as raw events (see
`openai_client.json_events`). Cancelling (or `aclose()`-ing) the generator closes the HTTP
connection: OpenAI stops generating (and billing) when its client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx2
import httpx_sse
import openai

from llmrelay.providers.base import (
    Finished,
    FinishReason,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    Usage,
)
from llmrelay.providers.openai_client import OpenAIClientProvider, json_events
from llmrelay.providers.openai_errors import CLOSED_EARLY, broken_stream, reported_failure, translate

# Text the model streams: its answer, or its refusal (which a person should see too).
_TEXT_EVENTS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})
# After the terminal event, read the rest of the body for this long at most.
_DRAIN_SECONDS = 0.5


class OpenAIProvider(OpenAIClientProvider):
    name = "openai"

    def _params(self, request: GenerationRequest) -> dict[str, Any]:
        # (The Responses API has no stop sequences; `request.stop` cannot be honoured here.)
        return {
            "model": request.model or self.model,
            "input": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "max_output_tokens": self.output_limit(request),
            **self.sampling(request),
        }

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        ending: dict[str, Any] | None = None
        # The exit stack closes the HTTP response however this generator ends: finished,
        # failed, cancelled, or closed by its consumer.
        async with contextlib.AsyncExitStack() as stack:
            try:
                # The SDK sends the request (auth, retries, HTTP errors as exceptions); the
                # body is read as raw events (openai_client.json_events).
                opened = self._client.responses.with_streaming_response.create(**self._params(request))
                response = await stack.enter_async_context(opened)
            except openai.OpenAIError as exc:
                raise translate(exc, api_key=self._api_key, streaming=False) from None
            events = json_events(response.http_response)
            try:
                async for event in events:
                    kind = event.get("type")
                    if kind in _TEXT_EVENTS:
                        if event.get("delta"):
                            yield TextDelta(event["delta"])
                    elif kind in _TERMINAL_EVENTS:
                        ending = event.get("response") or {}
                        break
                    elif kind == "response.failed":
                        error = (event.get("response") or {}).get("error") or {}
                        raise reported_failure(error.get("message"), error.get("code"), api_key=self._api_key)
                    elif kind == "error":
                        raise reported_failure(event.get("message"), event.get("code"), api_key=self._api_key)
            except (httpx2.TransportError, httpx_sse.SSEError) as exc:
                raise broken_stream(exc) from None
            except (ValueError, AttributeError, TypeError):
                raise ProviderError("The upstream sent a stream llmrelay could not read.") from None
            if ending is None:
                raise ProviderError(CLOSED_EARLY)
            await _drain(events)
        usage = ending.get("usage")
        if usage:
            yield Usage(usage.get("input_tokens"), usage.get("output_tokens"))
        yield Finished(_finish_reason(ending))


def _finish_reason(response: dict[str, Any]) -> FinishReason:
    if response.get("status") != "incomplete":
        return "stop"
    reason = (response.get("incomplete_details") or {}).get("reason")
    return "content_filter" if reason == "content_filter" else "length"


async def _drain(events: AsyncIterator[object]) -> None:
    """Read what is left after the terminal event: a fully read response lets the client
    reuse its (TLS) connection. The answer is complete, so errors here are nobody's concern."""
    with contextlib.suppress(httpx2.TransportError, httpx_sse.SSEError, ValueError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in events:
                pass
