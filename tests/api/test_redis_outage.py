"""Redis going away under a running llmrelay, and coming back: a real `redis-server` of the
test's own (password-protected), killed with SIGKILL before a request or mid-stream, or gone
silent behind `SilentLink` (a network gone), then started again, empty, on the same port.

What must hold (README, "Running several processes"): a request that needs Redis meanwhile is a
503 in its surface's own error shape saying the shared store is unavailable, never naming where
it is (nor its password); a stream already open ends with its surface's error event, then its
normal end, and the answer is stored as failed; a listener on another process never hangs;
limits fail closed; the log says it once, without a traceback; and once Redis is back, new
requests, resumes across processes and cancels work again without restarting llmrelay.

Every server here names its own Redis (`redis_url`), so these hold in the suite's plain run
and its Redis mode alike.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from redis import Redis as SyncRedis

from llmrelay import shared_redis
from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.shared_redis import MESSAGE, STOPPED
from llmrelay.streams_redis import log as redis_log
from tests.support.redis import PrivateRedis, SilentLink, private_redis
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.several import kill_owner_while_b_follows, llmrelay_process, read_some
from tests.support.sse_client import Event
from tests.support.wait import wait_until

WORDS = [f"w{i}" for i in range(60)]
REPLY = " ".join(WORDS)
PREFIX = "outage:"
USER = [{"role": "user", "content": "hi"}]
UNAVAILABLE = "The shared store (Redis) is unavailable"
KEY = "sk-outage-test-key-0123456789"
SLOW_REPLY = " ".join(["slow"] * 80)


def relay(redis: PrivateRedis, database: Path, *, delay: float = 0.05, **values: Any) -> Any:
    """An llmrelay app on `redis` (a slow scripted model: 60 words, `delay` s apart)."""
    settings = make_settings(
        redis_url=redis.url,
        redis_prefix=PREFIX,
        database_url=f"sqlite+aiosqlite:///{database}",
        detach_grace_seconds=10,
        **values,
    )
    return create_app(settings, provider=ScriptedProvider.replying(REPLY, delay_seconds=delay))


def assert_says_nothing_of_where_redis_is(text: str, redis: PrivateRedis) -> None:
    assert redis.password not in text
    assert "redis://" not in text and f":{redis.port}" not in text
    assert "Traceback" not in text


# -- Before a request: each surface's 503 ----------------------------------------------------


@dataclass(frozen=True)
class Down:
    url: str
    redis: PrivateRedis


@pytest.fixture(scope="module")
def down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Down]:
    """One server whose Redis was killed after it started (and stays dead for the module)."""
    with private_redis() as redis:
        app = relay(redis, tmp_path_factory.mktemp("down") / "llmrelay.db")
        with serve(app) as url:
            redis.kill()
            yield Down(url, redis)


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


TUTORIAL_AND_API = {
    "chat-complete": Case("GET", "/chat-complete?message=hi"),
    "chat-stream": Case("GET", "/chat-stream?message=hi"),
    "chat-stream resumed": Case("GET", "/chat-stream", headers={"Last-Event-ID": "gen_gone.ab12cd34.3"}),
    "chat-stream cancel": Case("POST", "/chat-stream/gen_gone/cancel"),
    "api chat": Case("POST", "/api/chat", {"message": "hi"}),
    "api attach": Case("GET", "/api/messages/msg_gone/events"),
    "api cancel": Case("POST", "/api/messages/msg_gone/cancel"),
}
OPENAI = {
    "chat completions": Case("POST", "/v1/chat/completions", {"model": "scripted", "messages": USER}),
    "chat completions streamed": Case(
        "POST", "/v1/chat/completions", {"model": "scripted", "messages": USER, "stream": True}
    ),
    "completions": Case("POST", "/v1/completions", {"model": "scripted", "prompt": "hi"}),
    "responses": Case("POST", "/v1/responses", {"model": "scripted", "input": "hi"}),
    "responses streamed": Case("POST", "/v1/responses", {"model": "scripted", "input": "hi", "stream": True}),
    "responses background": Case(
        "POST", "/v1/responses", {"model": "scripted", "input": "hi", "background": True}
    ),
    "response resumed": Case("GET", "/v1/responses/resp_gone?stream=true"),
    "response cancel": Case("POST", "/v1/responses/resp_gone/cancel"),
}
ANTHROPIC = {
    "messages": Case("POST", "/v1/messages", {"model": "scripted", "max_tokens": 50, "messages": USER}),
    "messages streamed": Case(
        "POST", "/v1/messages", {"model": "scripted", "max_tokens": 50, "messages": USER, "stream": True}
    ),
}


def send(url: str, case: Case) -> httpx.Response:
    return httpx.request(case.method, f"{url}{case.path}", json=case.body, headers=case.headers, timeout=15)


@pytest.mark.parametrize("case", TUTORIAL_AND_API.values(), ids=TUTORIAL_AND_API.keys())
def test_tutorial_and_api_routes_are_503_with_detail_while_redis_is_down(down: Down, case: Case) -> None:
    started = time.monotonic()
    response = send(down.url, case)
    assert time.monotonic() - started < 3, "a Redis that refuses connections must not keep anyone waiting"
    assert response.status_code == 503, response.text
    assert response.json()["detail"] in (MESSAGE, STOPPED.message)
    assert response.json()["detail"].startswith(UNAVAILABLE)
    assert_says_nothing_of_where_redis_is(response.text, down.redis)


@pytest.mark.parametrize("case", OPENAI.values(), ids=OPENAI.keys())
def test_v1_routes_are_503_in_openais_shape_while_redis_is_down(down: Down, case: Case) -> None:
    response = send(down.url, case)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "store_unavailable"
    assert error["message"].startswith(UNAVAILABLE)
    assert_says_nothing_of_where_redis_is(response.text, down.redis)


@pytest.mark.parametrize("case", ANTHROPIC.values(), ids=ANTHROPIC.keys())
def test_messages_are_503_in_anthropics_shape_while_redis_is_down(down: Down, case: Case) -> None:
    response = send(down.url, case)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert body["error"]["message"].startswith(UNAVAILABLE)
    assert_says_nothing_of_where_redis_is(response.text, down.redis)


def test_an_answer_refused_for_the_outage_is_stored_as_failed_and_reads_without_redis(down: Down) -> None:
    """The conversation is in the database, not Redis: it still reads, with the failed answer."""
    refused = send(down.url, TUTORIAL_AND_API["api chat"])
    assert refused.status_code == 503
    conversation = httpx.get(f"{down.url}/api/conversations/{refused.json()['conversation_id']}", timeout=10)
    assert conversation.status_code == 200
    answer = conversation.json()["messages"][-1]
    assert answer["id"] == refused.json()["message_id"]
    assert (answer["status"], answer["error"]) == ("error", STOPPED.message)


def test_limits_fail_closed_and_a_refused_turn_stores_nothing(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    """With rate limits and max_streams counted in Redis, Redis down is a 503 before anything
    is stored or asked of the model (not an answer nobody counted); back up, they count again."""
    app = relay(
        redis_server, tmp_path / "db.sqlite", delay=0, api_keys=KEY, default_rpm=100, default_max_streams=2
    )
    headers = {"Authorization": f"Bearer {KEY}"}
    with serve(app) as url:
        assert (
            httpx.post(f"{url}/api/chat", json={"message": "hi"}, headers=headers, timeout=10).status_code
            == 200
        )
        redis_server.kill()
        refused = httpx.post(f"{url}/api/chat", json={"message": "again"}, headers=headers, timeout=10)
        assert refused.status_code == 503
        assert refused.json() == {"detail": MESSAGE}  # refused by the limits: no conversation named
        conversations = httpx.get(f"{url}/api/conversations", headers=headers, timeout=10).json()
        assert len(conversations) == 1  # the one from before
        v1 = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "scripted", "messages": USER},
            headers=headers,
            timeout=10,
        )
        assert (v1.status_code, v1.json()["error"]["message"]) == (503, MESSAGE)
        redis_server.start()
        again = httpx.post(f"{url}/api/chat", json={"message": "back"}, headers=headers, timeout=10)
        assert again.status_code == 200, again.text


# -- Mid-stream: each surface's error event, then its end ------------------------------------


def read_killing(
    url: str, kill: Callable[[], None], *, after: int, method: str = "GET", **kwargs: Any
) -> tuple[list[Event], float]:
    """The stream's events, `kill()` called once `after` of them arrived; and how long the
    rest took after that."""
    events: list[Event] = []
    killed = 0.0
    with httpx.Client(timeout=30) as client, connect_sse(client, method, url, **kwargs) as source:
        assert source.response.status_code == 200
        for sse in source.iter_sse():
            events.append(Event(sse.event, sse.data, sse.id))
            if len(events) == after:
                kill()
                killed = time.monotonic()
    assert killed, f"the stream ended after {len(events)} events, before the kill"
    return events, time.monotonic() - killed


def test_a_tutorial_stream_open_when_redis_dies_ends_with_error_then_end(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    with serve(relay(redis_server, tmp_path / "db.sqlite")) as url:
        events, took = read_killing(f"{url}/chat-stream?message=hi", redis_server.kill, after=4)
    assert took < 2, f"the stream went on {took:.1f}s after Redis died"
    assert [e.event for e in events[-2:]] == ["error", "end"]
    assert events[-2].data == STOPPED.message
    assert events[-1].data == "[END]"
    text = "".join(e.data for e in events if e.event == "message")
    assert text and REPLY.startswith(text) and text != REPLY  # what there was, then it stopped


def test_a_chat_api_stream_open_when_redis_dies_ends_with_error_then_end_and_is_stored_failed(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    with serve(relay(redis_server, tmp_path / "db.sqlite")) as url:
        events, took = read_killing(
            f"{url}/api/chat", redis_server.kill, after=4, method="POST", json={"message": "hi"}
        )
        start = json.loads(events[0].data)
        stored = httpx.get(f"{url}/api/conversations/{start['conversation_id']}", timeout=10).json()
    assert took < 2
    assert [e.event for e in events[-3:]] == ["usage", "error", "end"]
    assert json.loads(events[-2].data) == {
        "message": STOPPED.message,
        "status": 503,
        "kind": "store_unavailable",
    }
    assert json.loads(events[-1].data) == {"finish_reason": "error"}
    seen = "".join(json.loads(e.data)["text"] for e in events if e.event == "delta")
    answer = stored["messages"][-1]
    # The end goes out after the answer is stored: what the client saw is what was kept.
    assert (answer["status"], answer["error"], answer["content"]) == ("error", STOPPED.message, seen)


def test_a_chat_completions_stream_open_when_redis_dies_ends_with_openais_error_chunk(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    with serve(relay(redis_server, tmp_path / "db.sqlite")) as url:
        events, took = read_killing(
            f"{url}/v1/chat/completions",
            redis_server.kill,
            after=4,
            method="POST",
            json={"model": "scripted", "messages": USER, "stream": True},
        )
    assert took < 2
    # As llmrelay ends any failed Chat Completions stream: the error chunk (the SDKs raise on
    # it), then the stream closes; no [DONE] after it.
    error = json.loads(events[-1].data)["error"]
    assert (error["type"], error["code"]) == ("server_error", "store_unavailable")
    assert error["message"] == STOPPED.message
    assert json.loads(events[-2].data)["choices"][0]["delta"]["content"]


def test_a_responses_stream_open_when_redis_dies_ends_failed_and_is_kept_failed(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    with serve(relay(redis_server, tmp_path / "db.sqlite")) as url:
        events, took = read_killing(
            f"{url}/v1/responses",
            redis_server.kill,
            after=6,
            method="POST",
            json={"model": "scripted", "input": "hi", "stream": True},
        )
        response_id = json.loads(events[0].data)["response"]["id"]
        kept = httpx.get(f"{url}/v1/responses/{response_id}", timeout=10).json()  # from the database
    assert took < 2
    assert events[-1].event == "response.failed"
    failed = json.loads(events[-1].data)["response"]
    assert failed["status"] == "failed" and failed["error"]["message"] == STOPPED.message
    assert kept["status"] == "failed"


def test_an_anthropic_stream_open_when_redis_dies_ends_with_its_error_event(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    with serve(relay(redis_server, tmp_path / "db.sqlite")) as url:
        events, took = read_killing(
            f"{url}/v1/messages",
            redis_server.kill,
            after=5,
            method="POST",
            json={"model": "scripted", "max_tokens": 500, "messages": USER, "stream": True},
        )
    assert took < 2
    assert events[-1].event == "error"  # Anthropic ends a failed stream with the error event alone
    error = json.loads(events[-1].data)
    assert error["type"] == "error" and error["error"]["message"] == STOPPED.message
    assert error["error"]["type"] == "api_error"


# -- Another process, and coming back --------------------------------------------------------


@contextmanager
def two_relays(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str, ScriptedProvider]]:
    """Two servers on one Redis and one database; A's model is slow, B's says "b" at once."""
    database = tmp_path / "shared.db"
    slow = ScriptedProvider.replying(SLOW_REPLY, delay_seconds=0.05)
    settings = make_settings(
        redis_url=redis_url,
        redis_prefix=PREFIX,
        database_url=f"sqlite+aiosqlite:///{database}",
        detach_grace_seconds=10,
    )
    with (
        serve(create_app(settings, provider=slow)) as a,
        serve(create_app(settings, provider=ScriptedProvider.replying("b"))) as b,
    ):
        yield a, b, slow


def started_on(url: str) -> str:
    """A /chat-stream answer started on `url` (its first events read, then the connection
    cut; it goes on for the grace period): its id."""
    events, _ = read_some(f"{url}/chat-stream", 2, params={"message": "hi"})
    return events[0].id.rpartition(".")[0]


def cancel_on(url: str, stream: str, owners_model: ScriptedProvider) -> float:
    """Cancel `stream` through `url`; how long until its owner's model was stopped."""
    before = owners_model.cancelled
    asked = time.monotonic()
    cancel = httpx.post(f"{url}/chat-stream/{stream}/cancel", timeout=10)
    assert cancel.status_code == 200 and cancel.json()["cancelled"] is True, cancel.text
    assert owners_model.cancelled == before + 1
    return time.monotonic() - asked


def finds_in_redis(url: str) -> bool:
    """The server asked Redis for a generation (one it does not have), and Redis answered."""
    probe = httpx.get(f"{url}/chat-stream", headers={"Last-Event-ID": "gen_probe.ab12cd34.1"}, timeout=15)
    return probe.status_code == 204


def test_a_listener_on_another_process_ends_with_error_then_end_when_redis_dies(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    with two_relays(redis_server.url, tmp_path) as (a, b, _):
        first, _ = read_some(f"{a}/api/chat", 3, method="POST", json={"message": "hi"})
        start = json.loads(first[0].data)
        on_b, took = read_killing(
            f"{b}/api/messages/{start['message_id']}/events",
            redis_server.kill,
            after=4,
            headers={"Last-Event-ID": first[-1].id},
        )
        wait_until(
            lambda: stored_status(a, start["conversation_id"]) == "error",
            what="A to store its answer as failed",
        )
    assert took < 3, f"B's listener waited {took:.1f}s"
    assert [e.event for e in on_b[-2:]] == ["error", "end"]
    error = json.loads(on_b[-2].data)
    assert (error["status"], error["kind"]) == (503, "log_lost")
    assert json.loads(on_b[-1].data) == {"finish_reason": "error"}


def stored_status(url: str, conversation_id: str) -> str:
    return str(
        httpx.get(f"{url}/api/conversations/{conversation_id}", timeout=10).json()["messages"][-1]["status"]
    )


def test_a_redis_gone_silent_ends_streams_and_fails_requests_within_the_clients_timeout(
    redis_server: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network gone, not a Redis gone: nothing is refused, nothing answers. Every wait on
    Redis is bounded by the clients' socket timeout (10 s; 1.5 s here, with the followers'
    blocking read 0.5 s instead of 5 s to stay below it), so no listener or request hangs."""
    monkeypatch.setattr(shared_redis, "SOCKET_TIMEOUT_SECONDS", 1.5)
    monkeypatch.setattr(redis_log, "FOLLOW_BLOCK_MS", 500)
    with SilentLink(redis_server) as link, two_relays(link.url, tmp_path) as (a, b, _):
        first, _ = read_some(f"{a}/api/chat", 3, method="POST", json={"message": "hi"})
        start = json.loads(first[0].data)
        on_b, took = read_killing(
            f"{b}/api/messages/{start['message_id']}/events",
            link.silence,
            after=3,
            headers={"Last-Event-ID": first[-1].id},
        )
        assert took < 4, f"B's listener waited {took:.1f}s"
        assert [e.event for e in on_b[-2:]] == ["error", "end"]
        assert json.loads(on_b[-2].data)["kind"] == "log_lost"
        # The owner's own client too: its log cannot be written, so the answer stopped.
        wait_until(lambda: stored_status(a, start["conversation_id"]) == "error", what="A's answer failed")
        asked = time.monotonic()
        refused = httpx.get(f"{b}/chat-complete", params={"message": "hi"}, timeout=15)
        assert (refused.status_code, time.monotonic() - asked < 4) == (503, True)
        link.restore()
        wait_until(lambda: finds_in_redis(a) and finds_in_redis(b), timeout=10, what="both using Redis again")
        assert httpx.get(f"{b}/chat-complete", params={"message": "hi"}, timeout=15).json() == {"data": "b"}


def test_once_redis_is_back_answers_resumes_and_cancels_work_again_without_a_restart(
    redis_server: PrivateRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with two_relays(redis_server.url, tmp_path) as (a, b, slow):
        redis_server.kill()
        for url in (a, b):
            assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}, timeout=10).status_code == 503
        time.sleep(2.5)  # heartbeats and control channels fail for a while meanwhile
        redis_server.start()  # empty, on the same port
        wait_until(lambda: finds_in_redis(a) and finds_in_redis(b), timeout=10, what="both using Redis again")
        # At once: A's answer is registered (with A's heartbeat: B's watchdog must not take it
        # for a dead owner's), and a cancel on B reaches it though A's control channel may be
        # subscribing again still (the cancel is sent again until A hears it).
        assert cancel_on(b, started_on(a), slow) < 3
        # An answer started on A resumes on B whole: A registered it, B finds and follows it.
        first, _ = read_some(f"{a}/chat-stream", 3, params={"message": "hi"})
        rest, _ = read_some(f"{b}/chat-stream", None, headers={"Last-Event-ID": first[-1].id})
        assert [e.event for e in rest[-2:]] == ["message", "end"]
        assert "".join(e.data for e in first + rest if e.event == "message") == SLOW_REPLY
        # And a cancel on B within a second, as ever.
        assert cancel_on(b, started_on(a), slow) < 1
    said = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "Redis" in r.getMessage()
    ]
    # One line when Redis went away and one when it came back, per process: not one per attempt.
    assert len(said) == 4, said
    assert sum(line.startswith("the shared store (Redis) is unavailable (") for line in said) == 2
    assert said.count("the shared store (Redis) answers again") == 2
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"
    assert redis_server.password not in caplog.text


def test_once_redis_is_back_the_watchdog_ends_an_answer_whose_owner_died(
    redis_server: PrivateRedis, tmp_path: Path
) -> None:
    """Heartbeats and the watchdog recover by themselves: after Redis restarted, an owner killed
    mid-answer is still found by the other process, and its listeners there get the end."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    env = {
        "LLMRELAY_REDIS_URL": redis_server.url,
        "LLMRELAY_REDIS_PREFIX": PREFIX,
        "LLMRELAY_DATABASE_URL": database_url,
        "LLMRELAY_LOG_LEVEL": "WARNING",
        "LLMRELAY_PROVIDER": "scripted",
        "LLMRELAY_SCRIPTED_REPLY": " ".join(["slow"] * 400),
        "LLMRELAY_SCRIPTED_DELAY_SECONDS": "0.05",
        "LLMRELAY_DETACH_GRACE_SECONDS": "30",
    }
    settings = make_settings(redis_url=redis_server.url, redis_prefix=PREFIX, database_url=database_url)
    with (
        llmrelay_process(env) as (owner, a),
        serve(create_app(settings, provider=ScriptedProvider.replying("no"))) as b,
    ):
        redis_server.restart()
        heartbeats = SyncRedis(host="127.0.0.1", port=redis_server.port, password=redis_server.password)
        try:
            wait_until(
                lambda: len(heartbeats.keys(f"{PREFIX}proc:*")) == 2, timeout=10, what="both heartbeats back"
            )
        finally:
            heartbeats.close()
        killed = kill_owner_while_b_follows(owner, a, b)
        assert [kind for kind, _ in killed.rest[-2:]] == ["error", "end"]
        assert json.loads(killed.rest[-2][1])["kind"] == "interrupted"
        assert killed.took < 8, f"listeners waited {killed.took:.1f}s"
        assert stored_status(b, killed.start["conversation_id"]) == "interrupted"
