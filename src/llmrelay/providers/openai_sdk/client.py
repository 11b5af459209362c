"""What the two OpenAI-SDK backends share: the client, the key kept out of sight, sampling
parameters, token estimates, closing, and the one `stream` method both run.

The contract of `OpenAISDKProvider.stream` (a template): the subclass says where its request
goes and what it carries (`path`, `request_body`) and how to read its API's events (a
`StreamParser`); the base sends the request through the SDK's client (its auth, retries,
timeouts and HTTP errors as exceptions), reads the streamed body as raw JSON events
(`json_events`), hands each event to the parser, turns every failure into a `ProviderError` in one place
(`upstream_errors`), and closes the HTTP response however the generator ends: finished,
failed, cancelled, or closed by its consumer. Closing the connection is how an upstream
learns to stop generating (and billing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any, ClassVar

import httpx2
import httpx_sse
import openai

from llmrelay.providers.base import (
    EmbeddingRequest,
    Embeddings,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    ProviderInfo,
    TextDelta,
)
from llmrelay.providers.openai_sdk.embeddings import embed_upstream
from llmrelay.providers.openai_sdk.upstream_errors import (
    CLOSED_EARLY,
    UNREADABLE,
    broken_stream,
    reported_failure,
    safe_url,
    translate,
)
from llmrelay.providers.upstream_http import Transport, http_client, transport_for

# After the upstream's last event, read the rest of the body for this long at most.
_DRAIN_SECONDS = 0.5


def estimate_tokens(text: str) -> int:
    """A cheap estimate (about four characters per token for English), not a tokenizer:
    the real counts come back from the upstream as usage."""
    return len(text) // 4 + 1 if text else 0


class ReportedFailure(Exception):
    """Raised by a parser for a failure the upstream reported inside its stream; the base
    class turns it into a `ProviderError` (scrubbed of the key)."""

    def __init__(self, message: str | None, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class StreamParser(ABC):
    """Reads the events of one streamed answer (a new parser per generation).

    `complete`: the answer is whole; a connection lost from here on loses nothing.
    `ended`: the upstream's last event of interest was read; the base stops reading and
    drains what is left (so the client can reuse its connection). A body that ends before
    `complete` was cut short.
    """

    complete: bool = False
    ended: bool = False

    def __init__(self) -> None:
        # Events beyond text (tool call pieces) an event produced, yielded right after it.
        self.pending: list[ProviderEvent] = []

    @abstractmethod
    def read_event(self, event: dict[str, Any]) -> str | None:
        """The text this event adds to the answer, if any. Raises `ReportedFailure` for a
        failure the upstream reported; a malformed event may raise ValueError, TypeError or
        AttributeError (the base says the stream was unreadable)."""

    @abstractmethod
    def closing_events(self) -> Iterable[ProviderEvent]:
        """After a complete stream: its `Usage` (when reported), then `Finished`."""


class OpenAISDKProvider(ABC):
    """Base of the `openai` (Responses) and `openai-compatible` (Chat) backends."""

    name: ClassVar[str]
    # The GenerationRequest fields this API lacks (refused with a 400 naming them).
    cannot: ClassVar[frozenset[str]] = frozenset()

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
        # The key lives only inside the client and the errors' scrubbing; nothing logs it.
        self._api_key = api_key
        # The transport actually used (upstream_http.transport_for).
        self.transport = transport_for(transport, base_url)
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client(
                self.transport, aiohttp=openai.DefaultAioHttpClient, httpx=openai.DefaultAsyncHttpxClient
            ),
        )
        self.model = model
        self.max_tokens = max_tokens
        # Endpoints are posted to as absolute URLs on this, read once: given a relative path,
        # the SDK rebuilds it from the client's `base_url` property on every request (~5% of
        # a request's CPU at 100 streams, bench/notes.md).
        self._base_url = str(self._client.base_url).rstrip("/")
        self.info = ProviderInfo(
            name=self.name,
            model=model,
            extra={"base_url": safe_url(self._client.base_url)},
            # Whether the upstream's model sees images is the upstream's to say: pass them on.
            sees_images=True,
            cannot=self.cannot,
        )

    # The endpoint, relative to the client's base URL: "/chat/completions", "/responses".
    path: ClassVar[str]

    def endpoint(self, request: GenerationRequest) -> str:
        """Where `request` goes (`path`, unless a subclass sends some requests elsewhere)."""
        return self.path

    @abstractmethod
    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body that asks for `request` as a stream (`stream: true`)."""

    @contextlib.asynccontextmanager
    async def open_stream(self, request: GenerationRequest) -> AsyncIterator[httpx2.Response]:
        """Send `request`; the streamed HTTP response, its body not read yet, closed on exit.

        Through the client's generic `post` (the SDK's documented way to an endpoint, with
        the client's options), not `chat.completions.create`: the typed methods walk the body
        against the API's TypedDicts (`maybe_transform`) and wrap the response, ~a quarter of
        the SDK's CPU per request (bench/notes.md), for a body that is plain JSON already and
        a response read as raw events anyway."""
        response = await self._client.post(
            self._base_url + self.endpoint(request),
            cast_to=httpx2.Response,
            body=self.request_body(request),
            stream=True,
            stream_cls=None,
        )
        # With `cast_to=httpx2.Response` the SDK hands back the HTTP response itself, unread.
        assert isinstance(response, httpx2.Response)
        try:
            yield response
        finally:
            await response.aclose()

    @abstractmethod
    def parser(self) -> StreamParser:
        """A fresh parser for one stream of this API."""

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        parser = self.parser()
        async with contextlib.AsyncExitStack() as stack:
            try:
                # The SDK sends the request (auth, retries, HTTP errors as exceptions); the
                # body is read as raw events: the SDK's typed objects per event cost most of
                # llmrelay's CPU per streamed token (bench/notes.md).
                response = await stack.enter_async_context(self.open_stream(request))
            except openai.OpenAIError as exc:
                raise translate(exc, api_key=self._api_key, streaming=False) from None
            # Closed by the stack before the response, however this generator ends (as the
            # Anthropic backend does): nothing left for the garbage collector to finalise.
            events = await stack.enter_async_context(contextlib.aclosing(json_events(response)))
            try:
                async for event in events:
                    text = parser.read_event(event)
                    if text:
                        yield TextDelta(text)
                    if parser.pending:
                        for extra in parser.pending:
                            yield extra
                        parser.pending.clear()
                    if parser.ended:
                        break
            except ReportedFailure as failure:
                raise reported_failure(failure.message, failure.code, api_key=self._api_key) from None
            except (httpx2.TransportError, httpx_sse.SSEError) as exc:
                # Cut off after the whole answer (say, before a usage chunk): nothing is lost.
                if not parser.complete:
                    raise broken_stream(exc) from None
            except (ValueError, AttributeError, TypeError):
                raise ProviderError(UNREADABLE) from None
            if not parser.complete:
                raise ProviderError(CLOSED_EARLY)
            if parser.ended:
                await drain(events)
        for closing in parser.closing_events():
            yield closing

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

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """The upstream's own `/embeddings` (both APIs' servers have the same one)."""
        return await embed_upstream(self._client, request, model=self.model, api_key=self._api_key)

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
                # Read on to the body's end (its last chunk follows `[DONE]`): a response read
                # whole leaves its connection in the pool; one closed before is dropped, and
                # the next request paid a new TCP (and TLS) handshake (bench/notes.md).
                await drain(events)
                return
            if not event.data:
                continue
            chunk = json.loads(event.data)
            if not isinstance(chunk, dict):
                raise ValueError("an event that is not a JSON object")
            yield chunk
    finally:
        await events.aclose()


async def drain(events: AsyncIterator[object]) -> None:
    """Read what is left after the last event: a fully read response lets the client reuse
    its (TLS) connection. The answer is complete, so errors here are nobody's concern.
    (The anthropic backend drains its streams with it too.)"""
    with contextlib.suppress(httpx2.TransportError, httpx_sse.SSEError, ValueError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in events:
                pass
