"""llmrelay's own time per model request: `X-Llmrelay-Overhead-Ms` on every model route and the
`llmrelay_overhead_seconds` histogram, with the wait for the provider left out."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmrelay.app import create_app
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.servers import serve
from tests.support.settings import make_settings

# The provider waits this long before each delta: far more than llmrelay's own time.
DELAY = 0.5


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    provider = ScriptedProvider(Script(["one", " two"], delay_seconds=DELAY))
    with serve(create_app(make_settings(), provider=provider)) as url:
        yield url


def overhead_ms(response: httpx.Response) -> float:
    value = response.headers["x-llmrelay-overhead-ms"]
    assert value.replace(".", "", 1).isdigit(), value  # milliseconds as a decimal number
    return float(value)


MODEL_ROUTES = [
    ("GET", "/chat-complete?message=hi", None),
    ("GET", "/chat-stream?message=hi", None),
    ("POST", "/api/chat", {"message": "hi"}),
    ("POST", "/v1/chat/completions", {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ),
    ("POST", "/v1/responses", {"model": "scripted", "input": "hi"}),
    ("POST", "/v1/responses", {"model": "scripted", "input": "hi", "stream": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), MODEL_ROUTES)
def test_every_model_route_says_its_overhead_without_the_upstream_wait(
    slow_server: str, method: str, path: str, body: object
) -> None:
    with httpx.stream(method, f"{slow_server}{path}", json=body, timeout=10) as response:
        assert response.status_code == 200
        ms = overhead_ms(response)
        response.read()
    # The provider kept the request waiting >= DELAY (first delta; whole answers 2 x DELAY):
    # none of that is llmrelay's, so what is left is far below it, and not negative.
    assert 0 <= ms < DELAY * 1000 / 2


def test_routes_that_ask_no_model_carry_no_header(slow_server: str) -> None:
    for path in ("/healthz", "/api/conversations", "/v1/models"):
        response = httpx.get(f"{slow_server}{path}")
        assert response.status_code == 200
        assert "x-llmrelay-overhead-ms" not in response.headers


def test_a_request_refused_before_any_model_was_asked_carries_none(slow_server: str) -> None:
    response = httpx.post(
        f"{slow_server}/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 404  # refused before any model was asked: no header
    assert "x-llmrelay-overhead-ms" not in response.headers


def test_the_histogram_counts_each_model_request(slow_server: str) -> None:
    def count() -> float:
        text = httpx.get(f"{slow_server}/metrics").text
        for family in text_string_to_metric_families(text):
            if family.name == "llmrelay_overhead_seconds":
                return next(s.value for s in family.samples if s.name.endswith("_count"))
        raise AssertionError("llmrelay_overhead_seconds is not exported")

    before = count()
    for _ in range(3):
        assert httpx.get(f"{slow_server}/chat-complete", params={"message": "hi"}).status_code == 200
    assert count() == before + 3
