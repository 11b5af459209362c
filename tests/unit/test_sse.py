"""The tutorial's SSE framing (api/tutorial.TutorialRenderer) and event ids (wire/sse.py), in-process.

That any text reaches a real SSE client exactly: tests/api/test_sse_round_trip.py.
"""

from __future__ import annotations

import pytest

from llmrelay.api.tutorial import TutorialRenderer
from llmrelay.providers.base import TextDelta
from llmrelay.wire import sse


def test_multiline_delta_is_one_event_with_one_data_line_per_line() -> None:
    raw = TutorialRenderer("gen_a").render(3, TextDelta("a\r\nb\rc\nd"))
    assert raw == b"id: gen_a.3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"


def test_leading_space_keeps_the_space_after_the_colon() -> None:
    assert TutorialRenderer("g").render(1, TextDelta(" hi")) == b"id: g.1\ndata:  hi\n\n"


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
