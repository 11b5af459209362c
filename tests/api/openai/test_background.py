"""Responses you can reconnect to: `background: true`, the stream cut and resumed with
`starting_after`, status while it runs, and cancel — with the official OpenAI SDK as the client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import relay_settings
from tests.support.wait import wait_until

REPLY = "one two three four five six seven eight nine ten"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    provider = ScriptedProvider(Script(split_into_deltas(REPLY), delay_seconds=0.05), model="scripted")
    with serve(create_app(make_settings(), provider=provider)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        yield client


def test_a_background_response_runs_without_its_client_and_completes(client: openai.OpenAI) -> None:
    started = client.responses.create(model="scripted", input="count", background=True)
    assert started.status in ("queued", "in_progress")
    assert started.background is True
    running = client.responses.retrieve(started.id)
    assert running.status == "in_progress"
    deadline = time.monotonic() + 10
    while (done := client.responses.retrieve(started.id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, "the background response never completed"
        time.sleep(0.05)
    assert done.status == "completed"
    assert done.output_text == REPLY


def test_a_cut_stream_resumes_after_its_last_sequence_number_with_exactly_the_rest(
    client: openai.OpenAI,
) -> None:
    stream = client.responses.create(model="scripted", input="count", background=True, stream=True)
    first = []
    for event in stream:
        first.append(event)
        if len(first) == 5:
            break
    stream.close()  # the connection is cut; the response goes on
    last = first[-1].sequence_number
    rest = list(client.responses.retrieve(first[0].response.id, stream=True, starting_after=last))  # type: ignore[attr-defined]
    events = first + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))  # nothing lost or doubled
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[attr-defined]
    assert text == REPLY
    assert events[-1].response.output_text == REPLY  # type: ignore[attr-defined]


def test_cancel_stops_a_background_response_and_it_reads_back_cancelled(
    fake: FakeOpenAI, fake_url: str
) -> None:
    fake.script = FakeScript(deltas=tuple(f" w{i}" for i in range(200)), delay_seconds=0.05)
    settings = relay_settings("openai-compatible", fake_url, model="upstream-model")
    with (
        serve(create_app(settings)) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client,
    ):
        started = client.responses.create(model="upstream-model", input="go on", background=True)
        wait_until(lambda: fake.streams, timeout=5, what="the upstream stream")
        asked = time.monotonic()
        cancelled = client.responses.cancel(started.id)
        assert cancelled.status == "cancelled"
        gone = fake.streams[-1].disconnected_at
        assert gone is not None and gone - asked <= 1.0  # the upstream stream was closed
        assert client.responses.retrieve(started.id).status == "cancelled"


def test_unknown_ids_and_a_stream_no_longer_held(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing", stream=True)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_missing")
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="scripted", input="x", background=True, store=False)
    assert raised.value.body["param"] == "background"  # type: ignore[index]
