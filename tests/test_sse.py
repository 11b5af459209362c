"""Any text a model produces reaches an SSE client exactly (a CR arrives as LF: SSE cannot carry it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrelay.api.tutorial import TutorialRenderer
from llmrelay.app import create_app
from llmrelay.providers.base import TextDelta
from llmrelay.providers.scripted import Script, ScriptedProvider
from llmrelay.wire import sse
from tests.conftest import make_settings
from tests.servers import serve
from tests.sse_client import deltas, read_events

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


def test_multiline_delta_is_one_event_with_one_data_line_per_line() -> None:
    raw = TutorialRenderer("gen_a").render(3, TextDelta("a\r\nb\rc\nd"))
    assert raw == b"id: gen_a.3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"


def test_leading_space_keeps_the_space_after_the_colon() -> None:
    assert TutorialRenderer("g").render(1, TextDelta(" hi")) == b"id: g.1\ndata:  hi\n\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6))
def test_any_text_round_trips_through_a_real_server(
    server: str, provider: ScriptedProvider, pieces: list[str]
) -> None:
    provider.script = Script(pieces)
    events = read_events(f"{server}/chat-stream", params={"message": "go"})
    assert deltas(events) == [as_received(p) for p in pieces]
    assert events[0].event == "start" and events[-1].event == "end"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("gen_ab.3", ("gen_ab", 3)),
        ("gen_a.b.0", ("gen_a.b", 0)),
        ("x", None),
        ("g.", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_event_id(value: str | None, expected: tuple[str, int] | None) -> None:
    assert sse.parse_event_id(value) == expected
