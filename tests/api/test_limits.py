"""Limits per key, hit and recovered: requests and tokens per minute, answers at once, budgets.

Real servers with the scripted model; the limiter's window is 1 s instead of a minute (the
`window_seconds` knob), so "after the window" is a short wait. Under /v1 the official openai SDK
must raise RateLimitError with OpenAI's codes; elsewhere a 429 names the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import anthropic
import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.limiter import InProcessLimiter, LimitExceeded, Tenant, limiter_for
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.store import KeyLimits, Owner, Store
from llmrelay.stream_slots import RedisSlots
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.redis import fresh_redis_space
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import read_events

USER = [{"role": "user", "content": "hi"}]
ENV_KEY = "sk-env-key-with-default-limits-0123"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def _make_key(url: str, name: str, limits: KeyLimits) -> str:
    store = await Store.open(url)
    try:
        return (await store.create_api_key(name, limits=limits))[1]
    finally:
        await store.close()


def _server(reply: str, delay: float = 0.0, **settings: object) -> tuple[object, str]:
    values = make_settings(**settings)
    # The server's own limiter (its counters in Redis when it has one: the suite's Redis
    # mode), with 1 s windows.
    redis_url = None if values.redis_url is None else values.redis_url.get_secret_value()
    limiter = limiter_for(redis_url, values.redis_prefix, values.default_limits(), window_seconds=1)
    app = create_app(values, provider=ScriptedProvider.replying(reply, delay_seconds=delay), limiter=limiter)
    return app, values.database_url or ""


@pytest.fixture
def fast() -> Iterator[tuple[str, str]]:
    app, database = _server("one two three", api_keys=ENV_KEY, default_rpm=1)
    with serve(app) as url:
        yield url, database


def _wait_for_next_window(retry_after: str) -> None:
    time.sleep(int(retry_after) + 0.1)


def test_requests_per_minute_429_with_retry_after_then_pass_again(fast: tuple[str, str]) -> None:
    url, database = fast
    key = asyncio.run(_make_key(database, "two-a-window", KeyLimits(rpm=2)))
    with sdk(url, key) as client:
        for _ in range(2):
            assert client.chat.completions.create(model="scripted", messages=USER).choices[0].message.content
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="scripted", messages=USER)
    error = raised.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    assert "requests per minute" in error.message and "resets in" in error.message
    assert "'two-a-window'" in error.message and key not in error.message
    retry_after = error.response.headers["retry-after"]
    assert 1 <= int(retry_after) <= 2

    # The same limit on the other routes: a sentence saying which, and Retry-After.
    refused = httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=auth(key))
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert refused.json()["limit"] == "rpm" and "requests per minute" in refused.json()["detail"]

    _wait_for_next_window(retry_after)
    with sdk(url, key) as client:
        assert client.chat.completions.create(model="scripted", messages=USER).choices[0].message.content


def test_a_key_without_limits_of_its_own_gets_the_defaults(fast: tuple[str, str]) -> None:
    url, _ = fast  # LLMRELAY_DEFAULT_RPM=1; the env key is a tenant with the defaults
    assert (
        httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=auth(ENV_KEY)).status_code == 200
    )
    refused = httpx.post(f"{url}/api/chat", json={"message": "again"}, headers=auth(ENV_KEY))
    assert refused.status_code == 429 and "retry-after" in refused.headers
    # Refused before anything was stored: no conversation was made for it.
    assert httpx.get(f"{url}/api/conversations", headers=auth(ENV_KEY)).json() == []


def test_tokens_per_minute_reserved_then_settled() -> None:
    app, database = _server("one two three")
    with serve(app) as url:
        _tokens_per_minute(url, database)


def _tokens_per_minute(url: str, database: str) -> None:
    # Each answer costs 1 token in ("hi") and 3 out: the third passes on its estimate (1)
    # and settles at 12, over the limit; the fourth is refused.
    key = asyncio.run(_make_key(database, "tokens", KeyLimits(tpm=10)))
    with sdk(url, key) as client:
        for _ in range(3):
            client.chat.completions.create(model="scripted", messages=USER)
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="scripted", messages=USER)
        assert raised.value.code == "rate_limit_exceeded"
        assert "tokens per minute" in raised.value.message
        assert (raised.value.body or {}).get("type") == "tokens"  # type: ignore[union-attr]
        # A request that could never fit says so instead of asking to wait.
        with pytest.raises(openai.RateLimitError) as too_big:
            client.chat.completions.create(model="scripted", messages=USER, max_tokens=50)
        assert "more than the 10 tokens" in too_big.value.message
        _wait_for_next_window(raised.value.response.headers["retry-after"])
        assert client.chat.completions.create(model="scripted", messages=USER).choices[0].message.content


def test_concurrent_streams_limit() -> None:
    # A grace period: the first answer runs on while this test holds its stream half read.
    app, database = _server(" ".join(["word"] * 40), delay=0.05, detach_grace_seconds=30)
    key = asyncio.run(_make_key(database, "one-at-a-time", KeyLimits(max_streams=1)))
    with serve(app) as url:
        with (
            httpx.Client(timeout=30) as client,
            client.stream("POST", f"{url}/api/chat", json={"message": "long"}, headers=auth(key)) as first,
        ):
            assert first.status_code == 200
            start = json.loads(next(line for line in first.iter_lines() if line.startswith("data:"))[5:])
            second = httpx.post(f"{url}/api/chat", json={"message": "and this"}, headers=auth(key))
            assert second.status_code == 429 and second.headers["retry-after"] == "1"
            assert second.json()["limit"] == "max_streams" and "at once" in second.json()["detail"]
            with sdk(url, key) as openai_client, pytest.raises(openai.RateLimitError):
                openai_client.responses.create(model="scripted", input="hi")
            stopped = httpx.post(f"{url}/api/messages/{start['message_id']}/cancel", headers=auth(key))
            assert stopped.json()["cancelled"] is True
        # Its slot is free once it ended.
        events = read_events(f"{url}/api/chat", method="POST", json={"message": "now"}, headers=auth(key))
        assert json.loads(events[-1].data) == {"finish_reason": "stop"}


def test_a_budget_spent_mid_stream_ends_the_answer_cleanly_and_is_recorded() -> None:
    app, database = _server(" ".join(f"w{i}" for i in range(30)), delay=0.01)
    key = asyncio.run(_make_key(database, "budgeted", KeyLimits(budget_tokens=10, budget_period="month")))
    with serve(app) as url:
        events = read_events(f"{url}/api/chat", method="POST", json={"message": "hi"}, headers=auth(key))
        kinds = [e.event for e in events]
        assert kinds[0] == "start" and kinds[-2:] == ["error", "end"]
        error = json.loads(events[-2].data)
        assert error["kind"] == "insufficient_quota" and error["status"] == 429
        assert "token budget" in error["message"] and "'budgeted'" in error["message"]
        assert json.loads(events[-1].data) == {"finish_reason": "error"}
        got = [json.loads(e.data)["text"] for e in events if e.event == "delta"]
        assert 0 < len(got) < 30  # stopped part way

        conversation_id = json.loads(events[0].data)["conversation_id"]
        stored = httpx.get(f"{url}/api/conversations/{conversation_id}", headers=auth(key)).json()
        answer = stored["messages"][-1]
        assert answer["status"] == "error" and "token budget" in answer["error"]
        assert answer["content"] == "".join(got)

        # Spent: the next request is refused before it starts, as OpenAI says it.
        with sdk(url, key) as client, pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="scripted", messages=USER)
        assert raised.value.code == "insufficient_quota"
        assert "calendar month" in raised.value.message and "resets on" in raised.value.message
        assert int(raised.value.response.headers["retry-after"]) > 0

    async def recorded() -> int:
        store = await Store.open(database, recover_interrupted=False)
        try:
            keys = {k.name: k for k in await store.list_api_keys()}
            return await store.tokens_spent(keys["budgeted"].owner)
        finally:
            await store.close()

    assert asyncio.run(recorded()) >= 10  # the usage row of the stopped answer was written


def test_a_spent_total_budget_says_it_does_not_reset_and_the_sdk_does_not_retry() -> None:
    app, database = _server("one two three")
    key = asyncio.run(_make_key(database, "total", KeyLimits(budget_tokens=3)))
    with serve(app) as url:
        assert (
            httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=auth(key)).status_code == 200
        )
        refused = httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=auth(key))
        assert refused.status_code == 429 and refused.json()["limit"] == "budget"
        assert "does not reset" in refused.json()["detail"]
        assert "retry-after" not in refused.headers and refused.headers["x-should-retry"] == "false"
        # max_retries=2, yet one request: the SDK honours x-should-retry.
        with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=2) as client:
            with pytest.raises(openai.RateLimitError) as raised:
                client.chat.completions.create(model="scripted", messages=USER)
        assert raised.value.code == "insufficient_quota"


async def test_a_monthly_budget_comes_back_with_the_next_month_and_reads_what_was_spent() -> None:
    clock = [datetime(2026, 1, 31, 23, 59, tzinfo=UTC)]
    spent_in_store = {Owner("key_t"): 95}
    asked: list[datetime | None] = []

    async def spent(owner: Owner, since: datetime | None) -> int:
        asked.append(since)
        return spent_in_store.get(owner, 0) if since == datetime(2026, 1, 1, tzinfo=UTC) else 0

    limiter = InProcessLimiter(KeyLimits(), spent_reader=spent, now=lambda: clock[0])
    tenant = Tenant(Owner("key_t"), "key 't'", KeyLimits(budget_tokens=100, budget_period="month"))
    permit = await limiter.admit(tenant, prompt_tokens=lambda: 2, max_output_tokens=None)
    assert permit.has_budget and await permit.charge(2) is True  # 95 + 2 + 2 = 99
    assert await permit.charge(1) is False  # 100: spent
    await permit.settle(2, 3)
    with pytest.raises(LimitExceeded) as raised:
        await limiter.admit(tenant, prompt_tokens=lambda: 2, max_output_tokens=None)
    assert raised.value.limit == "budget" and raised.value.retry_after == 60
    assert "2026-02-01" in raised.value.message
    clock[0] = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)
    again = await limiter.admit(tenant, prompt_tokens=lambda: 2, max_output_tokens=None)
    await again.settle(2, 1)
    assert asked == [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)]


@pytest.mark.parametrize("where", ["this process", "redis"])
async def test_an_answer_refused_by_another_limit_gives_its_slot_back(where: str) -> None:
    """max_streams is checked first and its slot taken; a refusal by rpm after that must not
    keep it (it would count an answer that never ran, and with Redis, on every process)."""
    async with contextlib.AsyncExitStack() as stack:
        slots = None
        if where == "redis":
            space = await stack.enter_async_context(fresh_redis_space())
            slots = RedisSlots.from_url(space.url, space.prefix)
        limiter = InProcessLimiter(KeyLimits(), slots=slots)
        stack.push_async_callback(limiter.aclose)
        owner = Owner("key_s")
        both = Tenant(owner, "key 's'", KeyLimits(rpm=1, max_streams=1))
        first = await limiter.admit(both, prompt_tokens=lambda: 1, max_output_tokens=None)
        await first.settle(1, 1)
        with pytest.raises(LimitExceeded) as raised:
            await limiter.admit(both, prompt_tokens=lambda: 1, max_output_tokens=None)
        assert raised.value.limit == "rpm"
        # Its one slot is free: the same owner, without the rpm limit, is admitted.
        streams_only = Tenant(owner, "key 's'", KeyLimits(max_streams=1))
        running = await limiter.admit(streams_only, prompt_tokens=lambda: 1, max_output_tokens=None)
        with pytest.raises(LimitExceeded) as full:
            await limiter.admit(streams_only, prompt_tokens=lambda: 1, max_output_tokens=None)
        assert full.value.limit == "max_streams"
        await running.settle(1, 1)


def test_count_tokens_asking_anthropic_counts_as_a_request_and_charges_nothing(
    anthropic_upstream: tuple[FakeAnthropic, str],
) -> None:
    """An Anthropic upstream's count_tokens is a call on the operator's account: the caller's
    requests per minute hold for it (Anthropic's 429 shape, the anthropic SDK's RateLimitError),
    and no token is charged to the key's budget."""
    fake, fake_url = anthropic_upstream
    fake.reset()
    values = make_settings(
        provider="anthropic",
        model="claude-haiku-4-5",
        anthropic_api_key="sk-ant-upstream",
        anthropic_base_url=fake_url,
        upstream_max_retries=0,
        api_keys=ENV_KEY,
    )
    redis_url = None if values.redis_url is None else values.redis_url.get_secret_value()
    limiter = limiter_for(redis_url, values.redis_prefix, values.default_limits(), window_seconds=1)
    with serve(create_app(values, limiter=limiter)) as url:
        key = asyncio.run(_make_key(values.database_url or "", "counts", KeyLimits(rpm=1, budget_tokens=1)))
        with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0) as claude:
            counted = claude.messages.count_tokens(model="claude-haiku-4-5", messages=USER)
            assert counted.input_tokens == 17  # the stand-in's own count
            with pytest.raises(anthropic.RateLimitError) as raised:
                claude.messages.count_tokens(model="claude-haiku-4-5", messages=USER)
            assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
            assert [r.path for r in fake.requests] == ["/v1/messages/count_tokens"]
            _wait_for_next_window(raised.value.response.headers["retry-after"])
            # A budget of one token is untouched by counting: an answer may still start.
            answer = claude.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=USER)
            assert answer.content
