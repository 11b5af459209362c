"""The `anthropic` backend (Messages API) against a wire-level stand-in for Anthropic.

Two levels: the provider alone (its events, what it sends, how it fails and stops), and a real
llmrelay configured with `provider=anthropic` pointing at the stand-in, read by real clients.
The stand-in itself is checked against the `anthropic` SDK first, so it speaks what the SDK reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.anthropic.messages import AnthropicProvider
from llmrelay.providers.anthropic.shapes import system_and_turns
from llmrelay.providers.base import (
    BadGenerationRequest,
    ChatMessage,
    Finished,
    GenerationRequest,
    ProviderError,
    ProviderEvent,
    TextDelta,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    Usage,
)
from llmrelay.providers.openai_sdk.upstream_errors import CLOSED_EARLY
from tests.support.fake_anthropic import FakeAnthropic, Script
from tests.support.fake_openai import Received
from tests.support.servers import free_socket, serve
from tests.support.settings import make_settings
from tests.support.upstream import (
    TRICKY,
    as_received,
    read_stream,
    requests_sent_while,
    serve_anthropic_relay,
    texts,
)

KEY = "sk-ant-api03-test-llmrelay-9c1d2e3f4a5b"
MODEL = "claude-haiku-4-5"


@pytest.fixture
def fake(anthropic_upstream: tuple[FakeAnthropic, str]) -> FakeAnthropic:
    return anthropic_upstream[0].reset()


@pytest.fixture
def fake_url(anthropic_upstream: tuple[FakeAnthropic, str]) -> str:
    return anthropic_upstream[1]


# Both HTTP transports (upstream_http): aiohttp, the default, and httpx2's own.
@pytest.fixture(params=["aiohttp", "httpx"])
async def provider(fake_url: str, request: pytest.FixtureRequest) -> AsyncIterator[AnthropicProvider]:
    backend = AnthropicProvider(
        api_key=KEY,
        base_url=fake_url,
        model=MODEL,
        timeout=10,
        max_retries=0,
        max_tokens=64,
        transport=request.param,
    )
    assert backend.transport == request.param
    yield backend
    await backend.aclose()


def ask(text: str = "hi", **options: object) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage("user", text)], **options)  # type: ignore[arg-type]


def key_sent(request: Received) -> str:
    """The key a request carried: the SDK sends `Authorization: Bearer`, older ones `x-api-key`."""
    return request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
        "Bearer "
    )


async def collect(events: AsyncIterator[ProviderEvent]) -> list[ProviderEvent]:
    return [event async for event in events]


# -- the stand-in speaks what the SDK reads -------------------------------------------------------


async def test_the_sdk_reads_the_fake(fake: FakeAnthropic, fake_url: str) -> None:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake_url, max_retries=0) as client:
        whole = await client.messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        async with client.messages.stream(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
        fake.script = Script(status=529)
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(
                model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
    assert whole.content[0].type == "text" and whole.content[0].text == "Hello there!"
    assert pieces == ["Hello", " there", "!"]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3


# -- the provider -------------------------------------------------------------------------------


async def test_streams_the_deltas_then_usage_then_stop(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(deltas=TRICKY, input_tokens=21, output_tokens=9)
    events = await collect(provider.stream(ask()))
    assert events == [*(TextDelta(d) for d in TRICKY), Usage(21, 9), Finished("stop")]


async def test_sends_system_apart_and_max_tokens_always(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Name a colour."),
        ChatMessage("assistant", "Blue."),
        ChatMessage("system", "Answer in French."),
        ChatMessage("user", "Another?"),
    ]
    await collect(
        provider.stream(GenerationRequest(messages=history, temperature=0.2, top_k=5, stop=["\n\n"]))
    )
    await collect(provider.stream(ask("plain", max_tokens=5, model="claude-sonnet-4-6")))
    first, second = fake.requests
    assert first.path == "/v1/messages"
    assert key_sent(first) == KEY
    assert first.headers["anthropic-version"]
    assert first.body["system"] == "Be brief.\n\nAnswer in French."
    assert first.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Blue."}]},
        {"role": "user", "content": [{"type": "text", "text": "Another?"}]},
    ]
    assert (first.body["model"], first.body["max_tokens"], first.body["stream"]) == (MODEL, 64, True)
    assert (first.body["temperature"], first.body["top_k"]) == (0.2, 5)
    assert first.body["stop_sequences"] == ["\n\n"]
    assert "top_p" not in first.body
    # Nothing asked for, nothing sent: the model's own defaults hold.
    assert (second.body["model"], second.body["max_tokens"]) == ("claude-sonnet-4-6", 5)
    assert not {"system", "temperature", "top_p", "top_k", "stop_sequences"} & set(second.body)


def test_system_messages_join_and_turns_are_block_lists() -> None:
    system, turns = system_and_turns([ChatMessage("user", "hi")])
    assert system is None and turns == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


async def test_a_finished_stream_leaves_its_connection_reusable(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    await collect(provider.stream(ask()))
    await collect(provider.stream(ask()))
    first, second = fake.requests
    assert first.client_port is not None and first.client_port == second.client_port


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
    ],
)
async def test_the_stop_reason_becomes_the_finish_reason(
    fake: FakeAnthropic, provider: AnthropicProvider, stop_reason: str, finish: str
) -> None:
    fake.script = Script(deltas=["a"], stop_reason=stop_reason, input_tokens=3, output_tokens=1)
    events = await collect(provider.stream(ask()))
    assert events == [TextDelta("a"), Usage(3, 1), Finished(finish)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "error", "http", "kind"),
    [
        (400, BadGenerationRequest, 400, "invalid_request"),
        (401, UpstreamAuthError, 502, "upstream_auth"),
        (403, UpstreamAuthError, 502, "upstream_auth"),
        (404, BadGenerationRequest, 400, "invalid_request"),
        (429, UpstreamRateLimited, 429, "rate_limited"),
        (500, ProviderError, 502, "upstream_error"),
        (529, UpstreamUnavailable, 503, "overloaded"),
    ],
)
async def test_http_errors_become_provider_errors(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    status: int,
    error: type[ProviderError],
    http: int,
    kind: str,
) -> None:
    fake.script = Script(status=status)
    with pytest.raises(error) as caught:
        await collect(provider.stream(ask()))
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.kind) == (http, kind)
    assert KEY not in caught.value.message and "sk-" not in caught.value.message
    if status in (401, 403):
        assert (
            "rejected llmrelay's key" in caught.value.message and "ANTHROPIC_API_KEY" in caught.value.message
        )
    if status == 400:  # the upstream's reason is the useful part
        assert "temperature: Input should be less than or equal to 1" in caught.value.message
    if status == 404:
        assert "model: claude-nonexistent" in caught.value.message


async def test_a_key_echoed_in_an_error_is_scrubbed(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.script = Script(status=400, error_message=f"bad request for key {KEY}")
    with pytest.raises(BadGenerationRequest) as caught:
        await collect(provider.stream(ask()))
    assert KEY not in caught.value.message and "[redacted]" in caught.value.message


@pytest.mark.parametrize(
    ("error_type", "error", "kind"),
    [
        ("overloaded_error", UpstreamUnavailable, "overloaded"),
        ("rate_limit_error", UpstreamRateLimited, "rate_limited"),
        ("api_error", ProviderError, "upstream_error"),
    ],
)
async def test_an_error_event_mid_stream_raises_a_readable_error(
    fake: FakeAnthropic, provider: AnthropicProvider, error_type: str, error: type[ProviderError], kind: str
) -> None:
    fake.script = Script(
        deltas=["a", "b", "c"], fail_after=2, error_type=error_type, error_message="GPU on fire"
    )
    got: list[ProviderEvent] = []
    with pytest.raises(error) as caught:
        async for item in provider.stream(ask()):
            got.append(item)
    assert got == [TextDelta("a"), TextDelta("b")]
    assert caught.value.kind == kind and "GPU on fire" in caught.value.message


@pytest.mark.parametrize(
    "script", [Script(deltas=["a", "b"], drop_after=1), Script(deltas=["a", "b"], end_after=1)]
)
async def test_a_stream_cut_short_raises_instead_of_hanging(
    fake: FakeAnthropic, provider: AnthropicProvider, script: Script
) -> None:
    fake.script = script
    got: list[ProviderEvent] = []
    with pytest.raises(ProviderError) as caught:
        async with asyncio.timeout(5):
            async for item in provider.stream(ask()):
                got.append(item)
    assert got == [TextDelta("a")]
    assert caught.value.message == CLOSED_EARLY


async def test_an_unreachable_upstream_is_503_and_its_url_shows_no_credentials() -> None:
    with free_socket() as sock:  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        backend = AnthropicProvider(
            api_key=KEY,
            base_url=f"http://proxyuser:hunter2@127.0.0.1:{port}",
            model=MODEL,
            timeout=5,
            max_retries=0,
            max_tokens=8,
        )
        with pytest.raises(UpstreamUnavailable) as caught:
            await collect(backend.stream(ask()))
        await backend.aclose()
    assert caught.value.status == 503
    assert caught.value.message == f"Could not connect to the upstream API at http://127.0.0.1:{port}."
    assert backend.info.extra["base_url"] == f"http://127.0.0.1:{port}"


async def test_a_silent_upstream_times_out(fake: FakeAnthropic, fake_url: str) -> None:
    fake.script = Script(deltas=["late"], delay_seconds=3)
    backend = AnthropicProvider(
        api_key=KEY, base_url=fake_url, model=MODEL, timeout=0.3, max_retries=0, max_tokens=8
    )
    with pytest.raises(UpstreamTimeout) as caught:
        await collect(backend.stream(ask()))
    await backend.aclose()
    assert caught.value.status == 504


async def test_closing_the_stream_closes_the_upstream_connection(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(deltas=["x"] * 100, delay_seconds=0.1)
    events = provider.stream(ask())
    assert await anext(events) == TextDelta("x")
    closed_at = time.monotonic()
    await events.aclose()
    gone = await fake.streams[-1].wait_disconnected(within=5)
    assert gone - closed_at < 1.0


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.script = Script(deltas=["x"] * 100, delay_seconds=0.1)
    first = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(provider.stream(ask())) as events:
            async for _ in events:
                first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gone = await fake.streams[-1].wait_disconnected(within=5)
    assert gone - cancelled_at < 1.0


async def test_the_client_says_when_its_request_was_sent(provider: AnthropicProvider) -> None:
    """As the OpenAI SDK's: the sending is noted in the running stream's task (overhead.py)."""
    before, sent = await requests_sent_while(provider.stream(ask()))
    assert len(sent) == 1 and sent[0] > before


def test_an_upstream_url_with_credentials_is_sent_through_httpx2() -> None:
    backend = AnthropicProvider(
        api_key=KEY, base_url="http://u:p@127.0.0.1:9", model=MODEL, timeout=1, max_retries=0, max_tokens=8
    )
    assert backend.transport == "httpx"


def test_info_and_token_estimate(provider: AnthropicProvider) -> None:
    assert provider.info.name == "anthropic" and provider.info.model == MODEL
    assert not {"top_k", "tools", "stop", "response_format"} & provider.info.cannot
    assert {"seed", "presence_penalty", "frequency_penalty"} <= provider.info.cannot
    assert provider.info.sees_images
    assert provider.count_tokens("four score and seven years ago") == 8


# -- a real llmrelay in front of the stand-in ----------------------------------------------------


@pytest.fixture(scope="module")
def relay(anthropic_upstream: tuple[FakeAnthropic, str]) -> Iterator[str]:
    with serve_anthropic_relay(anthropic_upstream[1], KEY) as url:
        yield url


async def test_chat_stream_through_an_anthropic_upstream(fake: FakeAnthropic, relay: str) -> None:
    fake.script = Script(deltas=TRICKY)
    response, events = await read_stream(relay, "hi")
    assert response.status_code == 200
    assert texts(events) == [as_received(d) for d in TRICKY]
    assert events[-1].event == "end"
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"{relay}/healthz")).json()
    assert (health["provider"], health["model"]) == ("anthropic", MODEL)


async def test_an_openai_client_on_an_anthropic_upstream(fake: FakeAnthropic, relay: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0) as client:
        whole = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            max_tokens=7,
        )
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        pieces = [
            c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content
        ]
        fake.script = Script(status=429)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert whole.choices[0].message.content == "Hello there!"
    assert whole.usage is not None and whole.usage.prompt_tokens == 17
    assert pieces == ["Hello", " there", "!"]
    sent = fake.requests[0].body
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 7


async def test_a_client_leaving_closes_the_anthropic_upstream(fake: FakeAnthropic, relay: str) -> None:
    fake.script = Script(deltas=["tick "] * 200, delay_seconds=0.1)
    async with openai.AsyncOpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "count"}], stream=True
        )
        seen = 0
        async for chunk in stream:
            seen += bool(chunk.choices and chunk.choices[0].delta.content)
            if seen == 2:
                break
        await stream.close()
    left_at = time.monotonic()
    closed_at = await fake.streams[-1].wait_disconnected(within=5)
    assert closed_at - left_at < 1.0


def test_a_models_file_entry_reaches_the_upstream_with_its_key_and_name(
    fake: FakeAnthropic, fake_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRELAY_TEST_ANTHROPIC_KEY", "sk-ant-from-the-file-env")
    models = tmp_path / "models.toml"
    models.write_text(
        f"""
[[models]]
name = "claude"
provider = "anthropic"
model = "claude-sonnet-4-6"
base_url = "{fake_url}"
api_key_env = "LLMRELAY_TEST_ANTHROPIC_KEY"
max_output_tokens = 33
max_retries = 0
""",
        encoding="utf-8",
    )
    with (
        serve(create_app(make_settings(models_file=models))) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client,
    ):
        answer = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Hello there!"
    (sent,) = fake.requests
    assert (sent.body["model"], sent.body["max_tokens"]) == ("claude-sonnet-4-6", 33)
    assert key_sent(sent) == "sk-ant-from-the-file-env"


# -- the Anthropic SDK through llmrelay to an Anthropic upstream ------------------------------------


@pytest.fixture
async def claude(relay: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=relay, api_key="unused", max_retries=0) as sdk:
        yield sdk


async def test_the_anthropic_sdk_through_llmrelay_to_anthropic(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    fake.script = Script(deltas=TRICKY, input_tokens=21, output_tokens=9, stop_reason="max_tokens")
    whole = await claude.messages.create(
        model=MODEL, max_tokens=9, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
    )
    async with claude.messages.stream(
        model=MODEL, max_tokens=9, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert whole.content[0].type == "text" and whole.content[0].text == "".join(TRICKY)
    assert whole.stop_reason == "max_tokens" and (whole.usage.input_tokens, whole.usage.output_tokens) == (
        21,
        9,
    )
    # Deltas arrive as sent: inside JSON, a CR survives (unlike the tutorial's raw SSE text).
    assert pieces == list(TRICKY)
    assert final.stop_reason == "max_tokens" and (final.usage.input_tokens, final.usage.output_tokens) == (
        21,
        9,
    )
    sent = fake.requests[0].body
    assert (sent["system"], sent["max_tokens"]) == ("Be brief.", 9)
    assert key_sent(fake.requests[0]) == KEY  # llmrelay's upstream key, not the client's


@pytest.mark.parametrize(
    ("status", "exception", "llmrelay_status", "kind"),
    [
        (429, anthropic.RateLimitError, 429, "rate_limit_error"),
        (529, anthropic.OverloadedError, 529, "overloaded_error"),
        (400, anthropic.BadRequestError, 400, "invalid_request_error"),
        # llmrelay's own key was refused: the client's request is fine, the gateway is not.
        (401, anthropic.InternalServerError, 502, "api_error"),
        (500, anthropic.InternalServerError, 502, "api_error"),
    ],
)
async def test_upstream_errors_raise_the_sdks_exceptions(
    fake: FakeAnthropic,
    claude: anthropic.AsyncAnthropic,
    status: int,
    exception: type[anthropic.APIStatusError],
    llmrelay_status: int,
    kind: str,
) -> None:
    fake.script = Script(status=status)
    with pytest.raises(exception) as caught:
        await claude.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert (caught.value.status_code, caught.value.type) == (llmrelay_status, kind)
    assert KEY not in str(caught.value.body)


async def test_an_overloaded_upstream_mid_stream_is_an_overloaded_error_event(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    fake.script = Script(deltas=["a", "b", "c"], fail_after=2, error_type="overloaded_error")
    got: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with claude.messages.stream(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            async for text in stream.text_stream:
                got.append(text)
    assert got == ["a", "b"]
    assert caught.value.type == "overloaded_error"


async def test_an_anthropic_client_leaving_closes_the_upstream_within_a_second(
    fake: FakeAnthropic, claude: anthropic.AsyncAnthropic
) -> None:
    fake.script = Script(deltas=["tick "] * 200, delay_seconds=0.1)
    async with claude.messages.stream(
        model=MODEL, max_tokens=500, messages=[{"role": "user", "content": "count"}]
    ) as stream:
        seen = 0
        async for _ in stream.text_stream:
            seen += 1
            if seen == 2:
                break
    left_at = time.monotonic()
    closed_at = await fake.streams[-1].wait_disconnected(within=5)
    assert closed_at - left_at < 1.0
    assert fake.streams[-1].finished_at is None
