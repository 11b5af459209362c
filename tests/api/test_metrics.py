"""`GET /metrics` over a real server: what an operator's Prometheus would scrape after real traffic."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from llmrelay.app import create_app
from llmrelay.providers.base import UpstreamTimeout
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from tests.support.servers import serve
from tests.support.settings import make_settings

REPLY = "one two three four five"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(url: str, name: str, expected: float, timeout: float = 5.0, **labels: str) -> Samples:
    """Scrape until `name{labels}` reaches `expected` (a generation's end is recorded just after it)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if value(samples, name, **labels) >= expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


@pytest.fixture
def slow_server() -> Iterator[str]:
    provider = ScriptedProvider.replying(REPLY, delay_seconds=0.25)
    with serve(create_app(make_settings(), provider=provider)) as url:
        yield url


def test_requests_streams_generations_and_cancellations_are_counted(slow_server: str) -> None:
    url = slow_server
    assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}).json() == {"data": REPLY}
    with (
        httpx.Client() as client,
        connect_sse(client, "GET", f"{url}/chat-stream", params={"message": "hi there"}) as source,
    ):
        events = list(source.iter_sse())
    assert "".join(e.data for e in events if e.event == "message") == REPLY
    assert httpx.get(f"{url}/chat-complete").status_code == 422
    assert httpx.get(f"{url}/no/such/page").status_code == 404
    assert httpx.get(f"{url}/static/app.css").status_code == 200
    for unknown in ("conv_nope", "conv_other"):
        assert httpx.get(f"{url}/api/conversations/{unknown}").status_code == 404

    # A stream the client leaves after its first delta: open while it runs, then cancelled.
    with (
        httpx.Client() as client,
        connect_sse(client, "GET", f"{url}/chat-stream", params={"message": "go"}) as source,
    ):
        # next(), not a for/break: closing the iterator would close the response.
        events_in = source.iter_sse()
        assert next(events_in).event == "start"
        assert next(events_in).event == "message"
        assert value(scrape(url), "llmrelay_open_streams") == 1
        assert value(scrape(url), "llmrelay_running_generations") == 1

    samples = wait_for(url, "llmrelay_generations_cancelled_total", 1)
    assert value(samples, "llmrelay_generations_cancelled_total") == 1
    assert value(samples, "llmrelay_open_streams") == 0
    assert value(samples, "llmrelay_running_generations") == 0

    def requests(route: str, status: str) -> float:
        return value(samples, "llmrelay_http_requests_total", method="GET", route=route, status=status)

    assert requests("/chat-complete", "200") == 1
    assert requests("/chat-complete", "422") == 1
    assert requests("/chat-stream", "200") == 2
    # Unknown paths share one label: a scanner cannot make a series per path it tries.
    assert requests("unmatched", "404") == 1
    assert requests("/no/such/page", "404") == 0
    assert requests("/metrics", "200") >= 2  # the two scrapes while the stream was open
    assert requests("/static/{path}", "200") == 1
    # A route with a parameter is counted under its template, never its raw paths.
    assert requests("/api/conversations/{conversation_id}", "404") == 2
    assert not any("conv_nope" in str(labels) for _, labels in samples)

    model = "scripted"
    labels = {"provider": "scripted", "model": model}
    assert value(samples, "llmrelay_generations_total", finish_reason="stop", **labels) == 2
    assert value(samples, "llmrelay_generations_total", finish_reason="cancelled", **labels) == 1
    # Every generation got its first delta: three TTFTs, three durations.
    assert value(samples, "llmrelay_time_to_first_token_seconds_count", **labels) == 3
    assert value(samples, "llmrelay_generation_duration_seconds_count", **labels) == 3
    # Two whole answers take at least their 5 x 250 ms of pauses.
    assert value(samples, "llmrelay_generation_duration_seconds_sum", **labels) >= 2 * 5 * 0.25
    # Every prompt counts, the cancelled one's too (estimated: it stopped before its usage
    # report), as in the usage rows: one policy, accounting.spent_tokens.
    prompts = sum(len(split_into_deltas(m)) for m in ("hi", "hi there", "go"))
    assert value(samples, "llmrelay_tokens_total", model=model, direction="in") == prompts
    # Two whole answers, plus what the cancelled one produced before it stopped (at least 1).
    out = value(samples, "llmrelay_tokens_total", model=model, direction="out")
    assert 2 * len(split_into_deltas(REPLY)) + 1 <= out < 3 * len(split_into_deltas(REPLY))
    assert value(samples, "process_resident_memory_bytes") > 0


def test_upstream_errors_are_counted_by_kind() -> None:
    provider = ScriptedProvider(Script(["never"], error=UpstreamTimeout("The model took too long.")))
    with serve(create_app(make_settings(), provider=provider)) as url:
        assert httpx.get(f"{url}/chat-stream", params={"message": "hi"}).status_code == 504
        assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}).status_code == 504
        samples = wait_for(url, "llmrelay_upstream_errors_total", 2, kind="upstream_timeout")
    assert value(samples, "llmrelay_upstream_errors_total", kind="upstream_timeout") == 2
    assert (
        value(samples, "llmrelay_http_requests_total", method="GET", route="/chat-stream", status="504") == 1
    )
    assert (
        value(
            samples,
            "llmrelay_generations_total",
            provider="scripted",
            model="scripted",
            finish_reason="error",
        )
        == 2
    )
    # No first token, so no time-to-first-token sample.
    assert (
        value(samples, "llmrelay_time_to_first_token_seconds_count", provider="scripted", model="scripted")
        == 0
    )


def test_each_app_has_its_own_registry() -> None:
    """create_app runs many times in one process: no metric is shared or registered twice."""
    with serve(create_app(make_settings(), provider=ScriptedProvider.replying("a"))) as first:
        with serve(create_app(make_settings(), provider=ScriptedProvider.replying("b"))) as second:
            httpx.get(f"{first}/chat-complete", params={"message": "x"})
            ones = wait_for(
                first,
                "llmrelay_generations_total",
                1,
                provider="scripted",
                model="scripted",
                finish_reason="stop",
            )
            twos = scrape(second)
    labels = {"method": "GET", "route": "/chat-complete", "status": "200"}
    assert value(ones, "llmrelay_http_requests_total", **labels) == 1
    assert value(twos, "llmrelay_http_requests_total", **labels) == 0


async def _two_keys(database_url: str) -> dict[str, str]:
    from llmrelay.store import Store

    store = await Store.open(database_url)
    try:
        return {name: (await store.create_api_key(name))[1] for name in ("alice", "bob")}
    finally:
        await store.close()


def _key_samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {k: v for k, v in scrape(url).items() if k[0].startswith("llmrelay_key_")}


def test_per_key_counters_only_where_the_operator_enables_them() -> None:
    import asyncio

    for enabled in (True, False):
        settings = make_settings(metrics_key_labels=enabled)
        keys = asyncio.run(_two_keys(settings.database_url or ""))
        with serve(create_app(settings, provider=ScriptedProvider.replying(REPLY))) as url:
            for name, times in (("alice", 2), ("bob", 1)):
                for _ in range(times):
                    response = httpx.get(
                        f"{url}/chat-complete",
                        params={"message": "hi"},
                        headers={"Authorization": f"Bearer {keys[name]}"},
                    )
                    assert response.status_code == 200
            samples = wait_for(
                url,
                "llmrelay_generations_total",
                3,
                provider="scripted",
                model="scripted",
                finish_reason="stop",
            )
            keyed = _key_samples(url)
            if not enabled:
                assert not any(value for value in keyed.values())
                continue
            labels = {dict(labels)["key"] for name, labels in keyed if name == "llmrelay_key_requests_total"}
            alice = next(label for label in labels if "'alice'" in label)
            bob = next(label for label in labels if "'bob'" in label)
            assert alice.endswith("…)") and keys["alice"] not in alice  # name and prefix, never the key
            assert value(samples, "llmrelay_key_requests_total", key=alice) == 2
            assert value(samples, "llmrelay_key_requests_total", key=bob) == 1
            out = len(split_into_deltas(REPLY))
            assert value(samples, "llmrelay_key_tokens_total", key=alice, direction="out") == 2 * out
            assert value(samples, "llmrelay_key_tokens_total", key=bob, direction="in") == len(
                split_into_deltas("hi")
            )
