"""A /v1 client that goes away stops the upstream generation: mid-stream, while waiting for a
whole answer, and before the first token. Seen at the scripted model (its `cancelled` count)
and at a wire-level OpenAI stand-in behind the openai-compatible backend (its disconnect record)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import Script, ScriptedProvider
from llmrelay.store import Store
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.wait import eventually

USER = [{"role": "user", "content": "count"}]
CHAT = {"model": "scripted", "messages": USER}
RESPONSES = {"model": "scripted", "input": "count"}
# Legacy completions stop at 16 tokens unless told otherwise: longer than any test waits.
COMPLETIONS = {"model": "scripted", "prompt": "count", "max_tokens": 500}
ROUTES = [("/v1/chat/completions", CHAT), ("/v1/responses", RESPONSES), ("/v1/completions", COMPLETIONS)]


@pytest.fixture
def slow() -> ScriptedProvider:
    # 200 deltas, 0.05 s apart: ten seconds of answer, far longer than any test waits.
    return ScriptedProvider(Script(["tick "] * 200, delay_seconds=0.05))


@pytest.fixture
def settings_and_url(slow: ScriptedProvider) -> Iterator[tuple[Any, str]]:
    settings = make_settings()
    with serve(create_app(settings, provider=slow)) as url:
        yield settings, url


@pytest.mark.parametrize(("path", "body"), ROUTES)
async def test_leaving_mid_stream_stops_the_model(
    slow: ScriptedProvider, settings_and_url: tuple[Any, str], path: str, body: dict[str, Any]
) -> None:
    settings, url = settings_and_url
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with client.stream("POST", path, json={**body, "stream": True}) as response:
            assert response.status_code == 200
            deltas = 0
            async for line in response.aiter_lines():
                deltas += "tick" in line
                if deltas == 2:
                    break  # leaving the block closes the connection
    await eventually(lambda: slow.cancelled == 1 and slow.active == 0)
    # What was generated before the client left was still counted against the caller.
    # (Usage rows are written in batches, a fraction of a second after the answer ends.)
    store = await Store.open(settings.database_url, recover_interrupted=False)
    try:
        deadline = time.monotonic() + 3
        while not (rows := await store.usage_by_key()) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a database another process writes
            await asyncio.sleep(0.05)
    finally:
        await store.close()
    assert [row["requests"] for row in rows] == [1]
    assert 2 <= rows[0]["output_tokens"] < 200


@pytest.mark.parametrize(("path", "body"), ROUTES)
async def test_leaving_while_waiting_for_a_whole_answer_stops_the_model(
    slow: ScriptedProvider, settings_and_url: tuple[Any, str], path: str, body: dict[str, Any]
) -> None:
    _, url = settings_and_url
    async with httpx.AsyncClient(base_url=url, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(path, json=body)
    await eventually(lambda: slow.cancelled == 1 and slow.active == 0)
    assert len(slow.requests) == 1


@pytest.mark.parametrize(("path", "body"), ROUTES)
async def test_leaving_before_the_first_token_stops_the_model(
    slow: ScriptedProvider, settings_and_url: tuple[Any, str], path: str, body: dict[str, Any]
) -> None:
    _, url = settings_and_url
    slow.script = Script(["late"], delay_seconds=30)  # the first token would take 30 s
    async with httpx.AsyncClient(base_url=url, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream("POST", path, json={**body, "stream": True}) as response:
                await response.aread()
    await eventually(lambda: slow.cancelled == 1 and slow.active == 0)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("path", "body"), ROUTES)
async def test_leaving_closes_the_upstream_connection(
    fake: FakeOpenAI, fake_url: str, path: str, body: dict[str, Any], stream: bool
) -> None:
    fake.script = FakeScript(deltas=["tick "] * 200, delay_seconds=0.05)
    settings = make_settings(
        provider="openai-compatible",
        model="scripted",
        openai_base_url=f"{fake_url}/v1",
        upstream_max_retries=0,
    )
    with serve(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            if stream:
                async with client.stream("POST", path, json={**body, "stream": True}) as response:
                    async for line in response.aiter_lines():
                        if "tick" in line:
                            break
            else:
                # Leave once the upstream is answering (not after a fixed time, which on a busy
                # machine can come before llmrelay even reached the upstream).
                waiting = asyncio.create_task(client.post(path, json=body))
                await eventually(lambda: len(fake.streams) == 1, within=10, what="the upstream stream")
                waiting.cancel()  # the client gives up: its connection closes
                with pytest.raises(asyncio.CancelledError):
                    await waiting
        assert len(fake.streams) == 1
        left_at = await fake.streams[0].wait_disconnected(within=5)
        assert fake.streams[0].finished_at is None
        assert left_at - fake.streams[0].started_at < 5
