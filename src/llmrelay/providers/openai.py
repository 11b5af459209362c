"""The `openai` backend: OpenAI's Responses API, streamed through `AsyncOpenAI`.

One request per generation: `responses.create(stream=True)` with the conversation as a message
list. Of the stream's many events, three kinds matter here: text deltas, the one terminal event
(`response.completed` / `response.incomplete`, with usage) and failures (`response.failed`,
`error`). A stream that ends without a terminal event was cut short, and says so.

Cancelling (or `aclose()`-ing) the generator closes the SDK stream, which closes the HTTP
connection: OpenAI stops generating (and billing) when its client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import openai
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseRefusalDeltaEvent,
    ResponseTextDeltaEvent,
)

from llmrelay.providers.base import (
    Finished,
    FinishReason,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    Usage,
)
from llmrelay.providers.openai_client import OpenAIClientProvider
from llmrelay.providers.openai_errors import CLOSED_EARLY, reported_failure, translate

# Text the model streams: its answer, or its refusal (which a person should see too).
_TEXT_EVENTS = (ResponseTextDeltaEvent, ResponseRefusalDeltaEvent)
_TERMINAL_EVENTS = (ResponseCompletedEvent, ResponseIncompleteEvent)
# After the terminal event, read the rest of the body for this long at most: a fully read
# response lets the SDK reuse its (TLS) connection for the next request.
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
        try:
            upstream = await self._client.responses.create(**self._params(request))
        except openai.OpenAIError as exc:
            raise translate(exc, api_key=self._api_key, streaming=False) from None
        # `async with` closes the HTTP response however this generator ends: finished,
        # failed, cancelled, or closed by its consumer.
        async with upstream:
            events = aiter(upstream)
            ending: Response | None = None
            try:
                async for event in events:
                    if isinstance(event, _TEXT_EVENTS):
                        if event.delta:
                            yield TextDelta(event.delta)
                    elif isinstance(event, _TERMINAL_EVENTS):
                        ending = event.response
                        break
                    elif isinstance(event, ResponseFailedEvent):
                        error = event.response.error
                        raise reported_failure(
                            error.message if error else None,
                            error.code if error else None,
                            api_key=self._api_key,
                        )
                    elif isinstance(event, ResponseErrorEvent):
                        raise reported_failure(event.message, event.code, api_key=self._api_key)
            except openai.OpenAIError as exc:
                raise translate(exc, api_key=self._api_key, streaming=True) from None
            except ValueError:
                # A `data:` line that is not JSON: the SDK's parser gives up.
                raise ProviderError("The upstream sent a stream llmrelay could not read.") from None
            if ending is None:
                raise ProviderError(CLOSED_EARLY)
            await _drain(events)
        if ending.usage is not None:
            yield Usage(ending.usage.input_tokens, ending.usage.output_tokens)
        yield Finished(_finish_reason(ending))


def _finish_reason(response: Response) -> FinishReason:
    if response.status != "incomplete":
        return "stop"
    reason = response.incomplete_details.reason if response.incomplete_details else None
    return "content_filter" if reason == "content_filter" else "length"


async def _drain(events: AsyncIterator[object]) -> None:
    """Read what is left after the terminal event; the answer is complete, so errors here
    (a slow or broken tail) are nobody's concern."""
    with contextlib.suppress(openai.OpenAIError, ValueError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in events:
                pass
