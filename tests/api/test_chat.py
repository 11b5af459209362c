"""The JSON chat API over a real server and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.base import ProviderError
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from tests.support.environment import subprocess_env
from tests.support.redis_mode import redis_mode_on
from tests.support.servers import free_socket, serve
from tests.support.settings import make_settings
from tests.support.sse_client import Event, read_events
from tests.support.wait import wait_until

ANSWER = "Your name is Ada, as you told me."


def chat(url: str, message: str, conversation_id: str | None = None, **kwargs: Any) -> list[Event]:
    body: dict[str, Any] = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return read_events(f"{url}/api/chat", method="POST", json=body, **kwargs)


def data(event: Event) -> dict[str, Any]:
    return json.loads(event.data)  # type: ignore[no-any-return]


def text_of(events: list[Event]) -> str:
    return "".join(data(e)["text"] for e in events if e.event == "delta")


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider.replying(ANSWER)


@pytest.fixture
def server(provider: ScriptedProvider, database_url: str) -> Iterator[str]:
    settings = make_settings(database_url=database_url, detach_grace_seconds=0.5)
    with serve(create_app(settings, provider=provider)) as url:
        yield url


def test_two_turns_the_second_sees_the_first(server: str, provider: ScriptedProvider) -> None:
    first = chat(server, "My name is Ada.")
    start = data(first[0])
    assert first[0].event == "start"
    assert start["conversation_id"].startswith("conv_") and start["message_id"].startswith("msg_")
    assert start["model"] == "scripted"
    assert [e.event for e in first][-2:] == ["usage", "end"]
    assert data(first[-1]) == {"finish_reason": "stop"}
    assert text_of(first) == ANSWER

    second = chat(server, "What is my name?", start["conversation_id"])
    assert data(second[0])["conversation_id"] == start["conversation_id"]
    sent = [(m.role, m.content) for m in provider.requests[-1].messages]
    assert sent == [("user", "My name is Ada."), ("assistant", ANSWER), ("user", "What is my name?")]

    stored = httpx.get(f"{server}/api/conversations/{start['conversation_id']}").json()
    assert stored["title"] == "My name is Ada."
    assert [(m["role"], m["status"]) for m in stored["messages"]] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    answer = stored["messages"][1]
    assert answer["content"] == ANSWER and answer["finish_reason"] == "stop"
    assert answer["output_tokens"] == len(split_into_deltas(ANSWER)) and answer["input_tokens"] > 0
    assert answer["duration_ms"] is not None and answer["provider"] == "scripted"


def test_the_answer_is_stored_when_the_client_sees_end(server: str) -> None:
    events = chat(server, "hi")
    message_id = data(events[0])["message_id"]
    conversation = httpx.get(f"{server}/api/conversations/{data(events[0])['conversation_id']}").json()
    assert conversation["messages"][-1]["id"] == message_id
    assert conversation["messages"][-1]["content"] == ANSWER


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"message": "hi", "conversation_id": "conv_nope"}, 404, "conv_nope"),
        ({"message": "   "}, 422, "empty"),
        ({}, 422, "message"),
        ({"message": "x" * 40_000}, 413, "limit"),
    ],
)
def test_bad_chat_requests(
    server: str, provider: ScriptedProvider, body: dict[str, Any], status: int, needle: str
) -> None:
    response = httpx.post(f"{server}/api/chat", json=body)
    assert response.status_code == status
    assert needle in response.json()["detail"]
    assert provider.requests == []


def test_malformed_json_is_422(server: str) -> None:
    response = httpx.post(f"{server}/api/chat", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


@pytest.fixture
def slow() -> ScriptedProvider:
    return ScriptedProvider(Script([f" t{i}" for i in range(40)], delay_seconds=0.03))


@pytest.fixture
def slow_server(slow: ScriptedProvider, database_url: str) -> Iterator[str]:
    settings = make_settings(database_url=database_url, detach_grace_seconds=1.0)
    with serve(create_app(settings, provider=slow)) as url:
        yield url


def test_resume_after_a_dropped_connection_loses_and_repeats_nothing(
    slow_server: str, slow: ScriptedProvider
) -> None:
    first = chat(slow_server, "count", limit=5)  # start + 4 deltas, then the connection drops
    message_id = data(first[0])["message_id"]
    time.sleep(0.2)
    rest = read_events(
        f"{slow_server}/api/messages/{message_id}/events", headers={"Last-Event-ID": first[-1].id}
    )
    assert rest[0].event != "start"
    assert text_of(first) + text_of(rest) == "".join(slow.script.deltas)
    assert rest[-1].event == "end" and data(rest[-1])["finish_reason"] == "stop"
    assert len(slow.requests) == 1
    # ?after= does the same as Last-Event-ID.
    again = read_events(f"{slow_server}/api/messages/{message_id}/events", params={"after": 3})
    assert text_of(again) == "".join(slow.script.deltas[3:])  # seq 1-3 were t0-t2


@pytest.fixture
def endless() -> ScriptedProvider:
    # 1000 deltas 0.03 s apart: 30 s of answer, so only the grace timer can end it in this test
    # (`slow`'s 1.2 s answer could finish on its own before a 1 s grace period ran out).
    return ScriptedProvider(Script([f" t{i}" for i in range(1000)], delay_seconds=0.03))


def test_nobody_comes_back_so_the_answer_stops_after_the_grace_period(
    endless: ScriptedProvider, database_url: str
) -> None:
    settings = make_settings(database_url=database_url, detach_grace_seconds=1.0)
    with serve(create_app(settings, provider=endless)) as url:
        first = chat(url, "count", limit=3)
        time.sleep(0.5)
        assert endless.cancelled == 0, "still inside the grace period"
        wait_until(lambda: endless.cancelled == 1, timeout=2.0, what="the grace period to stop the answer")
        conversation_id = data(first[0])["conversation_id"]

        def stored_status() -> str:
            messages = httpx.get(f"{url}/api/conversations/{conversation_id}").json()["messages"]
            return str(messages[-1]["status"])

        wait_until(lambda: stored_status() == "cancelled", timeout=5.0, what="the answer stored as cancelled")
        stored = httpx.get(f"{url}/api/conversations/{conversation_id}").json()["messages"][-1]
        assert stored["content"].startswith(" t0 t1") and len(endless.requests) == 1


def test_cancel_mid_answer_keeps_the_partial_text(slow_server: str, slow: ScriptedProvider) -> None:
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{slow_server}/api/chat", json={"message": "count"}) as response,
    ):
        lines = response.iter_lines()
        start_data = next(json.loads(line[6:]) for line in lines if line.startswith("data: "))
        message_id = start_data["message_id"]
        seen_deltas = 0
        for line in lines:
            if line.startswith("event: delta"):
                seen_deltas += 1
                if seen_deltas == 3:
                    break
        cancelled = client.post(f"{slow_server}/api/messages/{message_id}/cancel")
        assert cancelled.json() == {"message_id": message_id, "cancelled": True, "status": "cancelled"}
        rest = "\n".join(lines)
    assert 'event: end\ndata: {"finish_reason":"cancelled"}' in rest
    assert slow.cancelled == 1
    stored = httpx.get(f"{slow_server}/api/conversations/{start_data['conversation_id']}").json()["messages"][
        -1
    ]
    assert stored["status"] == "cancelled" and stored["finish_reason"] == "cancelled"
    assert stored["content"].startswith(" t0 t1 t2") and len(stored["content"]) < len(
        "".join(slow.script.deltas)
    )
    again = httpx.post(f"{slow_server}/api/messages/{message_id}/cancel").json()
    assert again == {"message_id": message_id, "cancelled": False, "status": "cancelled"}


def test_unknown_message_ids_are_404(server: str) -> None:
    assert httpx.get(f"{server}/api/messages/msg_nope/events").status_code == 404
    response = httpx.post(f"{server}/api/messages/msg_nope/cancel")
    assert response.status_code == 404 and "msg_nope" in response.json()["detail"]


def test_a_finished_answer_no_longer_in_memory_replays_from_the_store(database_url: str) -> None:
    provider = ScriptedProvider.replying(ANSWER)
    settings = make_settings(database_url=database_url, stream_retention_seconds=0)
    with serve(create_app(settings, provider=provider)) as url:
        message_id = data(chat(url, "hi")[0])["message_id"]
        time.sleep(0.1)
        replay = read_events(f"{url}/api/messages/{message_id}/events")
        assert [e.event for e in replay] == ["start", "delta", "usage", "end"]
        assert text_of(replay) == ANSWER
        gone = httpx.get(
            f"{url}/api/messages/{message_id}/events", headers={"Last-Event-ID": f"{message_id}.2"}
        )
        assert gone.status_code == 410


def test_failure_before_start_is_a_status_and_is_stored(database_url: str) -> None:
    provider = ScriptedProvider(Script(["x"], error=ProviderError("The upstream is down."), fail_after=0))
    with serve(create_app(make_settings(database_url=database_url), provider=provider)) as url:
        response = httpx.post(f"{url}/api/chat", json={"message": "hi"})
        assert response.status_code == 502
        body = response.json()
        assert body["detail"] == "The upstream is down."
        # Read at once, with no waiting: the failure is stored before the 502 is sent.
        messages = httpx.get(f"{url}/api/conversations/{body['conversation_id']}").json()["messages"]
        latest = httpx.get(f"{url}/api/conversations").json()[0]
        assert body["conversation_id"] == latest["id"]
        assert body["message_id"] == messages[1]["id"]
        assert [(m["role"], m["status"]) for m in messages] == [("user", "complete"), ("assistant", "error")]
        assert messages[1]["error"] == "The upstream is down."


def test_conversations_list_rename_delete(server: str) -> None:
    ids = [data(chat(server, f"topic {i}")[0])["conversation_id"] for i in range(3)]
    listed = httpx.get(f"{server}/api/conversations").json()
    assert [c["id"] for c in listed[:3]] == ids[::-1]
    assert [c["id"] for c in httpx.get(f"{server}/api/conversations", params={"limit": 1}).json()] == [
        ids[-1]
    ]

    renamed = httpx.patch(f"{server}/api/conversations/{ids[0]}", json={"title": "  Renamed  "})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Renamed"
    assert httpx.patch(f"{server}/api/conversations/{ids[0]}", json={"title": " "}).status_code == 422
    assert httpx.patch(f"{server}/api/conversations/conv_nope", json={"title": "x"}).status_code == 404

    assert httpx.delete(f"{server}/api/conversations/{ids[0]}").status_code == 204
    assert httpx.get(f"{server}/api/conversations/{ids[0]}").status_code == 404
    assert httpx.delete(f"{server}/api/conversations/{ids[0]}").status_code == 404


def test_a_server_killed_mid_answer_leaves_it_interrupted(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    env = subprocess_env(
        LLMRELAY_PROVIDER="scripted",
        LLMRELAY_SCRIPTED_REPLY="one two three four five six seven eight nine ten",
        LLMRELAY_SCRIPTED_DELAY_SECONDS="0.3",
        LLMRELAY_DATABASE_URL=database,
    )

    def start_server() -> tuple[subprocess.Popen[bytes], str]:
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        process = subprocess.Popen(
            [sys.executable, "-m", "llmrelay", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), timeout=30, what="the server to start")
        return process, url

    process, url = start_server()
    try:
        first = chat(url, "count", limit=3)
        conversation_id = data(first[0])["conversation_id"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
    process, url = start_server()
    try:

        def messages() -> list[dict[str, str]]:
            return list(httpx.get(f"{url}/api/conversations/{conversation_id}").json()["messages"])

        if redis_mode_on():
            # With Redis the new server's watchdog ends it, once the dead one's heartbeat has
            # run out (a few seconds), not its start-up: other servers may be mid-answer.
            wait_until(lambda: messages()[1]["status"] == "interrupted", timeout=15, what="interrupted")
        found = messages()
        assert [m["role"] for m in found] == ["user", "assistant"]
        assert found[0]["content"] == "count"
        assert found[1]["status"] == "interrupted"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_paging_bounds_are_checked_not_crashed_on(server: str) -> None:
    # Found by schemathesis: an offset past SQLite's 64-bit integers was a 500.
    response = httpx.get(f"{server}/api/conversations", params={"offset": 10**30})
    assert response.status_code == 422 and "offset" in response.json()["detail"]
    assert httpx.get(f"{server}/api/conversations", params={"limit": 0}).status_code == 422


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/conversations/%00abc"),
        ("DELETE", "/api/conversations/%00abc"),
        ("GET", "/api/messages/%00x/events"),
        ("POST", "/api/messages/%00x/cancel"),
        ("GET", "/v1/responses/%00x"),
    ],
)
def test_ids_no_database_can_hold_are_just_unknown(server: str, method: str, path: str) -> None:
    # PostgreSQL refuses NUL even as a query parameter: that was a 500.
    assert httpx.request(method, f"{server}{path}").status_code == 404
    chat = httpx.post(f"{server}/api/chat", json={"message": "hi", "conversation_id": "conv_\x00"})
    assert chat.status_code == 404
