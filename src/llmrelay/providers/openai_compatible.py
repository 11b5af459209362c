"""The `openai-compatible` backend: Chat Completions through `AsyncOpenAI(base_url=…)`.

For servers that speak OpenAI's older, more widely copied API: vLLM, llama.cpp's server,
Ollama, LM Studio. Each chunk carries a delta in `choices[0].delta.content`; the last choice
chunk has a `finish_reason`; with `stream_options.include_usage` a final chunk with no choices
carries the usage. A stream that ends without a `finish_reason` was cut short, and says so.

Cancelling (or `aclose()`-ing) the generator closes the SDK stream and so the HTTP connection,
which is how these servers learn to stop generating.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
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

# Chat Completions' reasons, in llmrelay's words; anything else (tool calls…) ended normally.
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
}


class OpenAICompatibleProvider(OpenAIClientProvider):
    name = "openai-compatible"

    def _params(self, request: GenerationRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            # `max_tokens`, not `max_completion_tokens`: the name compatible servers know.
            "max_tokens": self.output_limit(request),
            **self.sampling(request),
        }
        if request.stop:
            params["stop"] = list(request.stop)
        return params

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        finish: str | None = None
        usage: Usage | None = None
        # The exit stack closes the HTTP response however this generator ends: finished,
        # failed, cancelled, or closed by its consumer.
        async with contextlib.AsyncExitStack() as stack:
            try:
                # The SDK sends the request (auth, retries, HTTP errors as exceptions); the body
                # is read below as raw events: the SDK's typed chunks cost most of llmrelay's
                # CPU per streamed token (bench/notes.md).
                opened = self._client.chat.completions.with_streaming_response.create(**self._params(request))
                response = await stack.enter_async_context(opened)
            except openai.OpenAIError as exc:
                raise translate(exc, api_key=self._api_key, streaming=False) from None
            try:
                async for chunk in json_events(response.http_response):
                    error = chunk.get("error")
                    if error is not None:
                        detail = error if isinstance(error, dict) else {"message": str(error)}
                        raise reported_failure(
                            detail.get("message"), detail.get("code"), api_key=self._api_key
                        )
                    reported = chunk.get("usage")
                    if reported:
                        usage = Usage(reported.get("prompt_tokens"), reported.get("completion_tokens"))
                    choices = chunk.get("choices")
                    if not choices:
                        continue
                    choice = choices[0]
                    # Some servers leave `delta` out of the finishing chunk.
                    text = (choice.get("delta") or {}).get("content")
                    # The first chunk often carries only the role, with "" as content.
                    if text:
                        yield TextDelta(text)
                    if choice.get("finish_reason") is not None:
                        finish = choice["finish_reason"]
            except (httpx2.TransportError, httpx_sse.SSEError) as exc:
                # Cut off after the last text but before the usage chunk: the answer is whole.
                if finish is None:
                    raise broken_stream(exc) from None
            except (ValueError, AttributeError, TypeError):
                raise ProviderError("The upstream sent a stream llmrelay could not read.") from None
        if finish is None:
            raise ProviderError(CLOSED_EARLY)
        if usage is not None:
            yield usage
        yield Finished(_FINISH_REASONS.get(finish, "stop"))
