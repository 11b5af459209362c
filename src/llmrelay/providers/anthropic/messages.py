"""The `anthropic` backend: Anthropic's Messages API, streamed through `AsyncAnthropic`.

One request per generation: `messages.create(stream=True)` with the request in the API's shape
(`shapes`: the system text apart, content blocks with images, thinking, tool_use and
tool_result, tools, tool_choice, output_config, thinking), `max_tokens` always (the API
requires it). The stream's raw events are read by `events.MessageEvents` (text, thinking with
its signatures, tool calls, usage, the stop reason and the matched stop sequence, failures
reported mid-stream). A stream that ends without
`message_stop` was cut short, and says so.

The SDK sends the request (auth headers, `anthropic-version`, retries, HTTP errors as
exceptions); the streamed body is read as raw JSON events with the same reader as the OpenAI
backends (`openai_client.json_events`: both SDKs use httpx2), not as the SDK's typed events,
which cost most of llmrelay's CPU per token on the OpenAI side (bench/notes.md). (Its own
loop rather than `OpenAISDKProvider.stream`: that template is bound to the OpenAI SDK's client
and exceptions.) Cancelling (or `aclose()`-ing) the generator closes the HTTP connection:
Anthropic stops generating (and billing) when its client goes away.

`count_prompt` asks the upstream's own `/v1/messages/count_tokens` (a /v1/messages client's
count_tokens gets Anthropic's exact figure, tools and images included).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2
import httpx_sse

from llmrelay.providers.anthropic.events import MessageEvents
from llmrelay.providers.anthropic.shapes import prompt_params, thinking_param
from llmrelay.providers.anthropic.upstream_errors import translate
from llmrelay.providers.base import (
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    ProviderInfo,
)

# The raw-event reader, its drain and the transport failures are the OpenAI SDK backends':
# both SDKs speak httpx2, so their streamed bodies are read the same way.
from llmrelay.providers.openai_sdk.client import drain, estimate_tokens, json_events
from llmrelay.providers.openai_sdk.upstream_errors import CLOSED_EARLY, UNREADABLE, broken_stream, safe_url
from llmrelay.providers.upstream_http import Transport, http_client, transport_for


class AnthropicProvider:
    name = "anthropic"
    # What the Messages API lacks: no seed, no penalties, no log probabilities. (Of
    # response_format it has JSON schemas only: `shapes.output_config` refuses a bare
    # JSON-object mode.)
    cannot = frozenset({"seed", "presence_penalty", "frequency_penalty", "logprobs"})

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout: float,
        max_retries: int,
        max_tokens: int,
        transport: Transport = "aiohttp",
    ) -> None:
        # The key lives only inside the client and `translate`'s scrubbing; nothing logs it.
        self._api_key = api_key
        # The transport actually used (upstream_http.transport_for).
        self.transport = transport_for(transport, base_url)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client(
                self.transport,
                aiohttp=anthropic.DefaultAioHttpClient,
                httpx=anthropic.DefaultAsyncHttpxClient,
            ),
        )
        self.model = model
        self.max_tokens = max_tokens
        self.info = ProviderInfo(
            name=self.name,
            model=model,
            extra={"base_url": safe_url(self._client.base_url)},
            # Claude models read images; a model that cannot is the upstream's to say.
            sees_images=True,
            cannot=self.cannot,
        )

    def output_limit(self, request: GenerationRequest) -> int:
        """What the client asked for, never more than this backend's configured ceiling."""
        return min(request.max_tokens or self.max_tokens, self.max_tokens)

    def params(self, request: GenerationRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model or self.model,
            **prompt_params(request),
            "max_tokens": self.output_limit(request),
            "stream": True,
        }
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        thinking = (
            None
            if request.thinking is None
            else thinking_param(request.thinking, request.max_tokens, params["max_tokens"])
        )
        if thinking is not None:
            params["thinking"] = thinking
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
        # A request that cannot be put in the API's shape fails here, before anything is sent.
        params = self.params(request)
        reader = MessageEvents(api_key=self._api_key)
        # The exit stack closes the HTTP response however this generator ends: finished,
        # failed, cancelled, or closed by its consumer.
        async with contextlib.AsyncExitStack() as stack:
            try:
                opened = self._client.messages.with_streaming_response.create(**params)
                response = await stack.enter_async_context(opened)
            except anthropic.AnthropicError as exc:
                raise translate(exc, api_key=self._api_key, streaming=False) from None
            # Closed by the stack too (before the response): a consumer that stops early must
            # not leave the reader's generators to the garbage collector, which may finalise
            # them from another thread's collection while they run (tests/README.md).
            events = await stack.enter_async_context(contextlib.aclosing(json_events(response.http_response)))
            try:
                async for event in events:
                    for produced in reader.read(event):
                        yield produced
                    if reader.ended:
                        break
            except (httpx2.TransportError, httpx_sse.SSEError) as exc:
                raise broken_stream(exc) from None
            except (ValueError, AttributeError, TypeError, KeyError):
                raise ProviderError(UNREADABLE) from None
            if not reader.ended:
                raise ProviderError(CLOSED_EARLY)
            await drain(events)
        for closing in reader.closing():
            yield closing

    async def count_prompt(self, request: GenerationRequest) -> int:
        """The upstream's own count of the prompt (Anthropic's token counting endpoint)."""
        params = prompt_params(request)
        try:
            counted = await self._client.messages.count_tokens(model=request.model or self.model, **params)
        except anthropic.AnthropicError as exc:
            raise translate(exc, api_key=self._api_key, streaming=False) from None
        return counted.input_tokens

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def aclose(self) -> None:
        await self._client.close()
