"""The tutorial's endpoints over a real server: framing, headers, errors, disconnects, resume."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.base import ProviderError, UpstreamRateLimited
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import deltas, read_events
from tests.support.wait import wait_until

REPLY = "Hello there, world!"


def test_chat_complete_returns_the_whole_answer(scripted_server: str) -> None:
    response = httpx.get(f"{scripted_server}/chat-complete", params={"message": "tell me a joke"})
    assert response.status_code == 200
    assert response.json() == {"data": REPLY}


def test_chat_complete_post_takes_long_prompts(scripted_server: str, scripted: ScriptedProvider) -> None:
    long_prompt = "word " * 3000
    response = httpx.post(f"{scripted_server}/chat-complete", json={"message": long_prompt})
    assert response.json() == {"data": REPLY}
    assert scripted.requests[-1].messages[-1].content == long_prompt


def test_chat_stream_frames_start_deltas_end(scripted_server: str) -> None:
    with httpx.stream("GET", f"{scripted_server}/chat-stream", params={"message": "hi"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        response.read()
    events = read_events(f"{scripted_server}/chat-stream", params={"message": "hi"})
    assert (events[0].event, events[0].data) == ("start", "[START]")
    assert (events[-1].event, events[-1].data) == ("end", "[END]")
    assert "".join(deltas(events)) == REPLY
    assert all(e.id for e in events)
    generation = {e.id.rsplit(".", 1)[0] for e in events}
    assert len(generation) == 1, "every event of one answer names the same generation"
    seqs = [int(e.id.rsplit(".", 1)[1]) for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_chat_stream_post_twin(scripted_server: str) -> None:
    events = read_events(f"{scripted_server}/chat-stream", method="POST", json={"message": "hi"})
    assert "".join(deltas(events)) == REPLY


@pytest.mark.parametrize("path", ["/chat-complete", "/chat-stream"])
@pytest.mark.parametrize(
    "params, status, needle",
    [
        ({}, 422, "message"),
        ({"message": ""}, 422, "empty"),
        ({"message": "  \n\t "}, 422, "whitespace"),
        ({"message": "x" * 40_000}, 413, "limit"),
    ],
)
def test_bad_messages_get_clear_errors_and_ask_nothing(
    scripted_server: str,
    scripted: ScriptedProvider,
    path: str,
    params: dict[str, str],
    status: int,
    needle: str,
) -> None:
    response = httpx.get(f"{scripted_server}{path}", params=params)
    assert response.status_code == status
    assert needle in response.json()["detail"]
    assert scripted.requests == []


@pytest.mark.parametrize("path", ["/chat-complete", "/chat-stream"])
@pytest.mark.parametrize(
    "body, needle",
    [(b"{not json", "not valid JSON"), (b"[]", "body"), (b'{"message": 5}', "message"), (b"{}", "message")],
)
def test_malformed_bodies_get_422(scripted_server: str, path: str, body: bytes, needle: str) -> None:
    response = httpx.post(
        f"{scripted_server}{path}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert needle in response.json()["detail"]


@pytest.fixture
def failing() -> ScriptedProvider:
    return ScriptedProvider(Script(["one", " two", " three"]))


@pytest.fixture
def failing_server(failing: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=failing)) as url:
        yield url


@pytest.mark.parametrize("path", ["/chat-complete", "/chat-stream"])
def test_failure_before_the_first_event_is_a_real_status(
    failing_server: str, failing: ScriptedProvider, path: str
) -> None:
    failing.script.error = UpstreamRateLimited("The upstream is rate limiting us; try again shortly.")
    failing.script.fail_after = 0
    response = httpx.get(f"{failing_server}{path}", params={"message": "hi"})
    assert response.status_code == 429
    assert response.json() == {"detail": "The upstream is rate limiting us; try again shortly."}


def test_failure_after_start_is_an_error_event_then_end(
    failing_server: str, failing: ScriptedProvider
) -> None:
    failing.script.error = ProviderError("The upstream closed the stream early.")
    failing.script.fail_after = 2
    events = read_events(f"{failing_server}/chat-stream", params={"message": "hi"})
    assert [e.event for e in events] == ["start", "message", "message", "error", "end"]
    assert events[3].data == "The upstream closed the stream early."
    assert deltas(events) == ["one", " two"]


def test_internal_bug_in_a_provider_is_not_a_stack_trace(
    failing_server: str, failing: ScriptedProvider
) -> None:
    failing.script.error = RuntimeError("secret internals sk-abc")  # type: ignore[assignment]
    failing.script.fail_after = 0
    response = httpx.get(f"{failing_server}/chat-complete", params={"message": "hi"})
    assert response.status_code == 500
    assert "sk-abc" not in response.text and "Traceback" not in response.text
    assert response.json()["detail"]


@pytest.fixture
def slow() -> ScriptedProvider:
    return ScriptedProvider(Script([f" w{i}" for i in range(200)], delay_seconds=0.05))


def test_disconnect_stops_the_generation_within_a_second(slow: ScriptedProvider) -> None:
    with serve(create_app(make_settings(detach_grace_seconds=0), provider=slow)) as url:
        events = read_events(f"{url}/chat-stream", params={"message": "hi"}, limit=4)
        assert len(events) == 4
        left = time.monotonic()
        wait_until(lambda: slow.cancelled == 1, timeout=1.0, what="the generation to stop")
        assert time.monotonic() - left < 1.0
        assert slow.active == 0


def test_disconnect_while_waiting_for_a_complete_answer_stops_it(slow: ScriptedProvider) -> None:
    with serve(create_app(make_settings(), provider=slow)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{url}/chat-complete", params={"message": "hi"}, timeout=0.3)
        wait_until(lambda: slow.cancelled == 1, timeout=1.0, what="the generation to stop")


def test_reconnect_with_last_event_id_resumes_the_same_answer(slow: ScriptedProvider) -> None:
    slow.script.delay_seconds = 0.01
    with serve(create_app(make_settings(detach_grace_seconds=5), provider=slow)) as url:
        first = read_events(f"{url}/chat-stream", params={"message": "hi"}, limit=6)
        time.sleep(0.2)  # the answer goes on meanwhile, with nobody listening
        rest = read_events(
            f"{url}/chat-stream", params={"message": "hi"}, headers={"Last-Event-ID": first[-1].id}
        )
        assert rest[-1].event == "end"
        assert "start" not in [e.event for e in rest]
        assert "".join(deltas(first) + deltas(rest)) == "".join(slow.script.deltas)
        assert len(slow.requests) == 1, "the reconnect did not ask the model again"


def test_grace_period_then_the_generation_stops(slow: ScriptedProvider) -> None:
    with serve(create_app(make_settings(detach_grace_seconds=0.5), provider=slow)) as url:
        read_events(f"{url}/chat-stream", params={"message": "hi"}, limit=3)
        time.sleep(0.3)
        assert slow.cancelled == 0, "still inside the grace period"
        wait_until(lambda: slow.cancelled == 1, timeout=1.5, what="the grace period to stop it")


def test_last_event_id_of_an_unknown_answer_gets_204(scripted_server: str) -> None:
    response = httpx.get(
        f"{scripted_server}/chat-stream", params={"message": "hi"}, headers={"Last-Event-ID": "gen_nope.4"}
    )
    assert response.status_code == 204


def test_healthz_and_request_ids(scripted_server: str) -> None:
    response = httpx.get(f"{scripted_server}/healthz", headers={"X-Request-ID": "abc123"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"] == "abc123"
    assert len(httpx.get(f"{scripted_server}/healthz").headers["x-request-id"]) == 16


def test_unknown_route_is_json_404(scripted_server: str) -> None:
    response = httpx.get(f"{scripted_server}/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_cancel_a_stream_now_despite_the_grace_period(slow: ScriptedProvider) -> None:
    with serve(create_app(make_settings(detach_grace_seconds=30), provider=slow)) as url:
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", f"{url}/chat-stream", params={"message": "hi"}) as response,
        ):
            lines = response.iter_lines()
            generation_id = next(line for line in lines if line.startswith("id: "))[4:].rsplit(".", 1)[0]
            cancelled = client.post(f"{url}/chat-stream/{generation_id}/cancel")
            assert cancelled.json() == {"generation_id": generation_id, "cancelled": True}
            rest = "\n".join(lines)
        assert rest.rstrip().endswith("event: end\ndata: [END]")
        assert slow.cancelled == 1
        again = httpx.post(f"{url}/chat-stream/{generation_id}/cancel")
        assert again.json() == {"generation_id": generation_id, "cancelled": False}
        assert httpx.post(f"{url}/chat-stream/gen_nope/cancel").status_code == 404
