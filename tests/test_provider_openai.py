"""The `openai` backend (Responses API) against a wire-level stand-in for OpenAI.

Two levels: the provider alone (its events, what it sends, how it fails and stops), and a real
llmrelay server configured with `provider=openai` pointing at the stand-in, read by a real SSE
client the way a user's program would.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Literal

import httpx
import openai
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from llmrelay.app import create_app
from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    UpstreamTimeout,
    UpstreamUnavailable,
    Usage,
)
from llmrelay.providers.openai_sdk.responses import ResponsesProvider
from tests.conftest import make_settings
from tests.fake_openai import FakeOpenAI, Script
from tests.servers import free_socket, serve

KEY = "sk-test-llmrelay-5f3c9a0e7b1d4c2a"
# Deltas that break naive SSE framing: line breaks, leading spaces, field-like text, emoji.
TRICKY = (
    "Hello",
    " world",
    "\nline two\r\nline three\n",
    "  two leading spaces",
    " 🎉 emoji",
    "data: x",
    "event: end",
    ":comment",
    "\r",
    "id: 7\n\n",
)


def as_received(delta: str) -> str:
    """What any SSE client gets for `delta`: the format cannot carry a CR, so it becomes LF."""
    return delta.replace("\r\n", "\n").replace("\r", "\n")


# -- shared by the openai-compatible tests ---------------------------------------------------


@contextlib.contextmanager
def serve_fake() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake) as url:
        yield fake, url


def reset(fake: FakeOpenAI) -> FakeOpenAI:
    fake.script = Script()
    fake.requests.clear()
    fake.streams.clear()
    return fake


@contextlib.contextmanager
def serve_relay(provider: str, fake_url: str, **settings: object) -> Iterator[str]:
    """A real llmrelay whose upstream is the fake; no retries, so 429/500 tests are quick."""
    values: dict[str, object] = {
        "provider": provider,
        "openai_api_key": KEY,
        "openai_base_url": f"{fake_url}/v1",
        "upstream_max_retries": 0,
        "upstream_timeout_seconds": 10,
        "detach_grace_seconds": 0,
    }
    values.update(settings)
    with serve(create_app(make_settings(**values))) as url:
        yield url


async def collect(events: AsyncIterator[ProviderEvent]) -> list[ProviderEvent]:
    return [event async for event in events]


async def read_stream(base: str, message: str) -> tuple[httpx.Response, list[ServerSentEvent]]:
    """GET /chat-stream as an SSE client would: the response, and its events if it is a stream."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        aconnect_sse(client, "GET", "/chat-stream", params={"message": message}) as source,
    ):
        if source.response.status_code != 200:
            await source.response.aread()
            return source.response, []
        return source.response, [event async for event in source.aiter_sse()]


def texts(events: Sequence[ServerSentEvent]) -> list[str]:
    """The deltas of a tutorial stream: its unnamed events."""
    return [e.data for e in events if e.event == "message"]


async def assert_upstream_closes_when_client_leaves(fake: FakeOpenAI, relay: str, path: str) -> None:
    """Read two deltas of a slow answer, hang up, and see the upstream connection close."""
    fake.script = Script(deltas=["tick "] * 200, delay_seconds=0.1)
    async with (
        httpx.AsyncClient(base_url=relay, timeout=10) as client,
        aconnect_sse(client, "GET", "/chat-stream", params={"message": "count"}) as source,
    ):
        seen = 0
        async for event in source.aiter_sse():
            seen += event.event == "message"
            if seen == 2:
                break
    left_at = time.monotonic()
    (stream,) = [s for s in fake.streams if s.path == path]
    closed_at = await stream.wait_disconnected(within=5)
    assert closed_at - left_at < 1.0, f"the upstream stream stayed open {closed_at - left_at:.2f}s"
    assert stream.finished_at is None


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[FakeOpenAI, str]]:
    with serve_fake() as served:
        yield served


@pytest.fixture
def fake(fake_server: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    return reset(fake_server[0])


@pytest.fixture
def fake_url(fake_server: tuple[FakeOpenAI, str]) -> str:
    return fake_server[1]


@pytest.fixture
async def provider(fake_url: str) -> AsyncIterator[ResponsesProvider]:
    backend = ResponsesProvider(
        api_key=KEY, base_url=f"{fake_url}/v1", model="gpt-4o-mini", timeout=10, max_retries=0, max_tokens=64
    )
    yield backend
    await backend.aclose()


@pytest.fixture(scope="module")
def relay(fake_server: tuple[FakeOpenAI, str]) -> Iterator[str]:
    with serve_relay("openai", fake_server[1]) as url:
        yield url


def ask(text: str = "hi", **options: object) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage("user", text)], **options)  # type: ignore[arg-type]


# -- the provider ------------------------------------------------------------------------------


async def test_streams_the_deltas_then_usage_then_stop(fake: FakeOpenAI, provider: ResponsesProvider) -> None:
    fake.script = Script(deltas=TRICKY, input_tokens=21, output_tokens=9)
    events = await collect(provider.stream(ask()))
    assert events == [*(TextDelta(d) for d in TRICKY), Usage(21, 9), Finished("stop")]


async def test_sends_the_history_as_a_message_list(fake: FakeOpenAI, provider: ResponsesProvider) -> None:
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Name a colour."),
        ChatMessage("assistant", "Blue."),
        ChatMessage("user", "Another?"),
    ]
    await collect(provider.stream(GenerationRequest(messages=history, temperature=0.2, top_p=0.9)))
    await collect(provider.stream(ask("plain", max_tokens=5, model="gpt-4.1-nano")))
    first, second = fake.requests
    assert first.path == "/v1/responses"
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body["input"] == [{"role": m.role, "content": m.content} for m in history]
    assert first.body["model"] == "gpt-4o-mini"
    assert first.body["stream"] is True
    assert first.body["max_output_tokens"] == 64
    assert (first.body["temperature"], first.body["top_p"]) == (0.2, 0.9)
    assert (second.body["model"], second.body["max_output_tokens"]) == ("gpt-4.1-nano", 5)
    assert "temperature" not in second.body and "top_p" not in second.body


async def test_a_finished_stream_leaves_its_connection_reusable(
    fake: FakeOpenAI, provider: ResponsesProvider
) -> None:
    # The body is read to its end after response.completed, so the next answer skips a
    # new connection (and, with OpenAI, a TLS handshake).
    await collect(provider.stream(ask()))
    await collect(provider.stream(ask()))
    first, second = fake.requests
    assert first.client_port is not None and first.client_port == second.client_port


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
async def test_an_incomplete_response_says_why(
    fake: FakeOpenAI, provider: ResponsesProvider, reason: str, finish: str
) -> None:
    fake.script = Script(deltas=["cut", " short"], incomplete_reason=reason, input_tokens=3, output_tokens=2)
    events = await collect(provider.stream(ask()))
    assert events == [TextDelta("cut"), TextDelta(" short"), Usage(3, 2), Finished(finish)]  # type: ignore[arg-type]


@pytest.mark.parametrize("event", ["response.failed", "error"])
async def test_a_failure_event_mid_stream_raises_a_readable_error(
    fake: FakeOpenAI, provider: ResponsesProvider, event: Literal["response.failed", "error"]
) -> None:
    fake.script = Script(
        deltas=["a", "b", "c"], fail_after=2, failure_event=event, error_message="GPU on fire"
    )
    got: list[ProviderEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for item in provider.stream(ask()):
            got.append(item)
    assert got == [TextDelta("a"), TextDelta("b")]
    assert caught.value.message == "The upstream failed while answering: GPU on fire"


async def test_an_unreachable_upstream_is_503_and_its_url_shows_no_credentials() -> None:
    with free_socket() as sock:  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        backend = ResponsesProvider(
            api_key=KEY,
            base_url=f"http://proxyuser:hunter2@127.0.0.1:{port}/v1",
            model="m",
            timeout=5,
            max_retries=0,
            max_tokens=8,
        )
        with pytest.raises(UpstreamUnavailable) as caught:
            await collect(backend.stream(ask()))
        await backend.aclose()
    assert caught.value.status == 503
    assert caught.value.message == f"Could not connect to the upstream API at http://127.0.0.1:{port}."
    assert backend.info.extra["base_url"] == f"http://127.0.0.1:{port}/v1"


async def test_a_silent_upstream_times_out(fake: FakeOpenAI, fake_url: str) -> None:
    fake.script = Script(deltas=["late"], delay_seconds=3)
    backend = ResponsesProvider(
        api_key=KEY, base_url=f"{fake_url}/v1", model="m", timeout=0.3, max_retries=0, max_tokens=8
    )
    with pytest.raises(UpstreamTimeout) as caught:
        await collect(backend.stream(ask()))
    await backend.aclose()
    assert caught.value.status == 504


def test_count_tokens_is_a_rough_estimate(provider: ResponsesProvider) -> None:
    assert provider.count_tokens("") == 0
    assert provider.count_tokens("four score and seven years ago") == 8
    assert provider.info.name == "openai" and provider.info.model == "gpt-4o-mini"


async def test_the_fake_answers_non_streamed_requests_too(fake: FakeOpenAI, fake_url: str) -> None:
    fake.script = Script(deltas=["Whole", " answer"])
    async with openai.AsyncOpenAI(api_key=KEY, base_url=f"{fake_url}/v1", max_retries=0) as client:
        response = await client.responses.create(model="gpt-4o-mini", input="hi")
    assert response.output_text == "Whole answer"
    assert response.usage is not None and response.usage.output_tokens == 2
