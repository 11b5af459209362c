"""What the two OpenAI-SDK backends share: the client, the key kept out of sight, sampling
parameters, token estimates, reading a streamed body, and closing.

The backends differ only in the API they call (Responses vs Chat Completions) and how they read
its stream; everything else lives here once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx2
import httpx_sse
import openai

from llmrelay.providers.base import GenerationRequest, ProviderInfo
from llmrelay.providers.openai_errors import safe_url


def estimate_tokens(text: str) -> int:
    """A cheap estimate (about four characters per token for English), not a tokenizer:
    the real counts come back from the upstream as usage."""
    return len(text) // 4 + 1 if text else 0


class OpenAIClientProvider:
    """Base of `OpenAIProvider` and `OpenAICompatibleProvider`; `name` says which."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout: float,
        max_retries: int,
        max_tokens: int,
    ) -> None:
        # The key lives only inside the client and `translate`'s scrubbing; nothing logs it.
        self._api_key = api_key
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.max_tokens = max_tokens
        self.info = ProviderInfo(
            name=self.name, model=model, extra={"base_url": safe_url(self._client.base_url)}
        )

    def output_limit(self, request: GenerationRequest) -> int:
        """What the client asked for, never more than this backend's configured ceiling."""
        return min(request.max_tokens or self.max_tokens, self.max_tokens)

    @staticmethod
    def sampling(request: GenerationRequest) -> dict[str, Any]:
        """Only what was asked for: the upstream's defaults are the model's own."""
        params: dict[str, Any] = {}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        return params

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def aclose(self) -> None:
        await self._client.close()


async def json_events(response: httpx2.Response) -> AsyncGenerator[dict[str, Any], None]:
    """Each event's data of a streamed body as a JSON object, until `data: [DONE]` or its end.

    The SDK's own reading builds a typed object per event, which cost most of llmrelay's
    CPU per streamed token (bench/notes.md); the framing here is httpx-sse's."""
    events = httpx_sse.EventSource(response).aiter_sse()  # type: ignore[arg-type]  # httpx2 is httpx's API
    try:
        async for event in events:
            if event.data == "[DONE]":
                return
            if not event.data:
                continue
            chunk = json.loads(event.data)
            if not isinstance(chunk, dict):
                raise ValueError("an event that is not a JSON object")
            yield chunk
    finally:
        await events.aclose()
