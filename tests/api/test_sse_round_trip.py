"""Any text a model produces reaches an SSE client exactly (a CR arrives as LF: SSE cannot carry it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrelay.app import create_app
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import deltas, read_events

TRICKY = [
    "line one\nline two",
    "crlf\r\nbreak",
    "lone\rcr",
    " leading space",
    "  two leading spaces",
    "data: x",
    "event: end",
    ":comment",
    "id: 7",
    "retry: 0",
    "emoji 🦜🚀 and ünïcödé",
    "",
    "\n",
    "\n\n",
    "trailing newline\n",
    "tab\tand\u2028line separator\u0085next line\x0cform feed",
    "[END]",
]


def as_received(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture(scope="module")
def provider() -> ScriptedProvider:
    return ScriptedProvider(Script(TRICKY))


@pytest.fixture(scope="module")
def server(provider: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=provider)) as url:
        yield url


def test_tricky_deltas_arrive_one_event_each_exactly(server: str, provider: ScriptedProvider) -> None:
    provider.script = Script(TRICKY)
    events = read_events(f"{server}/chat-stream", params={"message": "go"})
    assert [as_received(t) for t in TRICKY] == deltas(events)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6))
def test_any_text_round_trips_through_a_real_server(
    server: str, provider: ScriptedProvider, pieces: list[str]
) -> None:
    provider.script = Script(pieces)
    events = read_events(f"{server}/chat-stream", params={"message": "go"})
    assert deltas(events) == [as_received(p) for p in pieces]
    assert events[0].event == "start" and events[-1].event == "end"
