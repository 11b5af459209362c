"""The `openai-compatible` backend: Chat Completions through `AsyncOpenAI(base_url=…)`.

For servers that speak OpenAI's older, more widely copied API: vLLM, llama.cpp's server,
Ollama, LM Studio. Each chunk carries a delta in `choices[0].delta.content`; the last choice
chunk has a `finish_reason`; with `stream_options.include_usage` a final chunk with no choices
carries the usage. A stream that ends without a `finish_reason` was cut short, and says so.

Cancelling (or `aclose()`-ing) the generator closes the SDK stream and so the HTTP connection,
which is how these servers learn to stop generating.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

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
from llmrelay.providers.openai_client import OpenAIClientProvider
from llmrelay.providers.openai_errors import CLOSED_EARLY, translate

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
        try:
            upstream = await self._client.chat.completions.create(**self._params(request))
        except openai.OpenAIError as exc:
            raise translate(exc, api_key=self._api_key, streaming=False) from None
        finish: str | None = None
        usage: Usage | None = None
        # `async with` closes the HTTP response however this generator ends: finished,
        # failed, cancelled, or closed by its consumer.
        async with upstream:
            try:
                async for chunk in upstream:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    # getattr: some servers leave `delta` out of the finishing chunk.
                    delta = getattr(choice, "delta", None)
                    text = delta.content if delta is not None else None
                    # The first chunk often carries only the role, with "" as content.
                    if text:
                        yield TextDelta(text)
                    if choice.finish_reason is not None:
                        finish = choice.finish_reason
            except openai.APIConnectionError as exc:
                # Cut off after the last text but before the usage chunk: the answer is whole.
                if finish is None:
                    raise translate(exc, api_key=self._api_key, streaming=True) from None
            except openai.OpenAIError as exc:
                raise translate(exc, api_key=self._api_key, streaming=True) from None
            except ValueError:
                # A `data:` line that is not JSON: the SDK's parser gives up.
                raise ProviderError("The upstream sent a stream llmrelay could not read.") from None
        if finish is None:
            raise ProviderError(CLOSED_EARLY)
        if usage is not None:
            yield usage
        yield Finished(_FINISH_REASONS.get(finish, "stop"))
