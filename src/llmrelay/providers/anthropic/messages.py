"""The `anthropic` backend: Anthropic's Messages API, streamed through `AsyncAnthropic`.

One request per generation: `messages.create(stream=True)`, the system messages as its
top-level `system` (the Messages API has no system role), `max_tokens` always (the API requires
it). Of the stream's events, four kinds matter: `content_block_delta` with a `text_delta`,
`message_start` and `message_delta` (usage, `stop_reason`), `message_stop` (the end), and
`error` (a failure mid-stream, e.g. `overloaded_error`). A stream that ends without
`message_stop` was cut short, and says so.

The SDK sends the request (auth headers, `anthropic-version`, retries, HTTP errors as
exceptions); the streamed body is read as raw JSON events with the same reader as the OpenAI
backends (`openai_client.json_events`: both SDKs use httpx2), not as the SDK's typed events,
which cost most of llmrelay's CPU per token on the OpenAI side (bench/notes.md). (Its own
loop rather than `OpenAISDKProvider.stream`: that template is bound to the OpenAI SDK's client
and exceptions.) Cancelling
(or `aclose()`-ing) the generator closes the HTTP connection: Anthropic stops generating (and
billing) when its client goes away.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anthropic
import httpx2
import httpx_sse

from llmrelay.providers.anthropic.upstream_errors import reported_failure, translate
from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    FinishReason,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    ProviderInfo,
    TextDelta,
    Usage,
)

# The raw-event reader, its drain and the transport failures are the OpenAI SDK backends':
# both SDKs speak httpx2, so their streamed bodies are read the same way.
from llmrelay.providers.openai_sdk.client import drain, estimate_tokens, json_events
from llmrelay.providers.openai_sdk.upstream_errors import CLOSED_EARLY, UNREADABLE, broken_stream, safe_url

# Anthropic's stop reasons in llmrelay's words. `pause_turn` ends a turn normally; the context
# window running out is a length stop.
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


def system_and_turns(messages: Sequence[ChatMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """The Messages API's `system` and `messages` for llmrelay's message list.

    System messages, wherever they stand, join into one `system` text. Each other message is
    one turn whose content is a list of blocks (today one text block), so tool_use /
    tool_result / image blocks slot in here once the content model has them (issue 9)."""
    system = [m.content for m in messages if m.role == "system"]
    turns = [
        {"role": m.role, "content": [{"type": "text", "text": m.content}]}
        for m in messages
        if m.role != "system"
    ]
    return ("\n\n".join(system) if system else None), turns


class AnthropicProvider:
    name = "anthropic"
    # What the Messages API lacks (no seed, penalties or JSON mode); tools wait for their
    # translation to Anthropic's tool_use / tool_result blocks.
    cannot = frozenset({"response_format", "seed", "presence_penalty", "frequency_penalty", "tools"})

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
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.max_tokens = max_tokens
        self.info = ProviderInfo(
            name=self.name,
            model=model,
            extra={"base_url": safe_url(self._client.base_url)},
            cannot=self.cannot,
        )

    def output_limit(self, request: GenerationRequest) -> int:
        """What the client asked for, never more than this backend's configured ceiling."""
        return min(request.max_tokens or self.max_tokens, self.max_tokens)

    def params(self, request: GenerationRequest) -> dict[str, Any]:
        system, turns = system_and_turns(request.messages)
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": turns,
            "max_tokens": self.output_limit(request),
            "stream": True,
        }
        if system is not None:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        # Only what was asked for: the upstream's defaults are the model's own, and Anthropic's
        # newest models refuse any sampling value but the default. The SDK (since 1.0) has no
        # arguments for these; the API still takes them where a model supports them.
        sampling = {
            name: value
            for name, value in (
                ("temperature", request.temperature),
                ("top_p", request.top_p),
                ("top_k", request.top_k),
            )
            if value is not None
        }
        if sampling:
            params["extra_body"] = sampling
        return params

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        input_tokens: int | None = None
        output_tokens: int | None = None
        stop_reason: str | None = None
        ended = False
        # The exit stack closes the HTTP response however this generator ends: finished,
        # failed, cancelled, or closed by its consumer.
        async with contextlib.AsyncExitStack() as stack:
            try:
                opened = self._client.messages.with_streaming_response.create(**self.params(request))
                response = await stack.enter_async_context(opened)
            except anthropic.AnthropicError as exc:
                raise translate(exc, api_key=self._api_key, streaming=False) from None
            events = json_events(response.http_response)
            try:
                async for event in events:
                    kind = event.get("type")
                    if kind == "content_block_delta":
                        delta = event.get("delta") or {}
                        if delta.get("type") == "text_delta" and delta.get("text"):
                            yield TextDelta(delta["text"])
                    elif kind == "message_start":
                        usage = (event.get("message") or {}).get("usage") or {}
                        input_tokens = usage.get("input_tokens", input_tokens)
                    elif kind == "message_delta":
                        stop_reason = (event.get("delta") or {}).get("stop_reason") or stop_reason
                        usage = event.get("usage") or {}
                        # Cumulative counts: the last message_delta has the totals.
                        input_tokens = usage.get("input_tokens") or input_tokens
                        output_tokens = usage.get("output_tokens", output_tokens)
                    elif kind == "message_stop":
                        ended = True
                        break
                    elif kind == "error":
                        error = event.get("error") or {}
                        raise reported_failure(error.get("type"), error.get("message"), api_key=self._api_key)
            except (httpx2.TransportError, httpx_sse.SSEError) as exc:
                raise broken_stream(exc) from None
            except (ValueError, AttributeError, TypeError):
                raise ProviderError(UNREADABLE) from None
            if not ended:
                raise ProviderError(CLOSED_EARLY)
            await drain(events)
        if input_tokens is not None or output_tokens is not None:
            yield Usage(input_tokens, output_tokens)
        yield Finished(STOP_REASONS.get(stop_reason or "end_turn", "stop"))

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def aclose(self) -> None:
        await self._client.close()
