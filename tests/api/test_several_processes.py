"""Two llmrelay servers sharing Redis and one database, used as clients would: an answer started
on A and resumed on B, cancelled on B, its owner killed with -9; background Responses created on
A, read, streamed and cancelled on B; a key's limits held across both."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript
from tests.support.redis import RedisSpace
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.several import (
    REPLY,
    Pair,
    kill_owner_while_b_follows,
    llmrelay_process,
    read_some,
    seqs,
    shared_env,
)
from tests.support.upstream import relay_settings
from tests.support.wait import wait_until


def test_chat_stream_started_on_a_resumes_on_b_with_nothing_lost_or_doubled(pair: Pair) -> None:
    first, _ = read_some(f"{pair.a}/chat-stream", 6, params={"message": "hi"})
    assert first[0].event == "start"
    generation_id, epoch, _ = first[0].id.split(".")
    rest, _ = read_some(f"{pair.b}/chat-stream", None, headers={"Last-Event-ID": first[-1].id})
    events = first + rest
    # start, 40 deltas, end (seq 41 is the usage, which the tutorial's stream does not carry)
    assert seqs(events) == [*range(41), 42]
    assert all(e.id.startswith(f"{generation_id}.{epoch}.") for e in events)
    assert "".join(e.data for e in events if e.event == "message") == REPLY
    assert events[-1].event == "end"
    assert pair.provider_b.requests == []  # B never asked its model: it read A's log


def test_a_position_from_another_epoch_is_refused_not_mixed(pair: Pair) -> None:
    first, _ = read_some(f"{pair.a}/chat-stream", 3, params={"message": "hi"})
    generation_id, _epoch, seq = first[-1].id.split(".")
    response = httpx.get(
        f"{pair.b}/chat-stream", headers={"Last-Event-ID": f"{generation_id}.0badc0de.{seq}"}, timeout=10
    )
    assert response.status_code == 204


def test_chat_api_answer_resumes_on_b_and_is_stored_once(pair: Pair) -> None:
    first, _ = read_some(f"{pair.a}/api/chat", 5, method="POST", json={"message": "hello"})
    start = json.loads(first[0].data)
    message_id = start["message_id"]
    url = f"{pair.b}/api/messages/{message_id}/events"
    rest, _ = read_some(url, None, headers={"Last-Event-ID": first[-1].id})
    events = first + rest
    assert seqs(events) == list(range(len(events)))
    text = "".join(json.loads(e.data)["text"] for e in events if e.event == "delta")
    assert text == REPLY
    assert [e.event for e in events[-2:]] == ["usage", "end"]
    # Attaching from the start on B: the start event (with A's meta), then everything.
    again, _ = read_some(url, None)
    assert (
        again[0].event == "start" and json.loads(again[0].data)["conversation_id"] == start["conversation_id"]
    )
    assert [e.id for e in again] == [e.id for e in events]
    stored = httpx.get(f"{pair.b}/api/conversations/{start['conversation_id']}", timeout=10).json()
    answer = stored["messages"][-1]
    assert (answer["status"], answer["content"]) == ("complete", REPLY)


@pytest.mark.parametrize("route", ["chat-stream", "api"])
def test_cancel_on_b_stops_the_generation_a_runs_within_a_second(pair: Pair, route: str) -> None:
    if route == "chat-stream":
        first, _ = read_some(f"{pair.a}/chat-stream", 3, params={"message": "hi"})
        cancel = f"{pair.b}/chat-stream/{first[0].id.rpartition('.')[0]}/cancel"
    else:
        first, _ = read_some(f"{pair.a}/api/chat", 3, method="POST", json={"message": "hi"})
        cancel = f"{pair.b}/api/messages/{json.loads(first[0].data)['message_id']}/cancel"
    started = time.monotonic()
    response = httpx.post(cancel, timeout=10)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["cancelled"] is True
    assert pair.provider_a.cancelled == 1
    assert took < 1, f"the owner stopped after {took:.2f}s"
    assert pair.provider_b.requests == []


def test_unknown_ids_are_still_404_and_204_on_any_process(pair: Pair) -> None:
    assert httpx.post(f"{pair.b}/chat-stream/gen_nope/cancel", timeout=10).status_code == 404
    assert httpx.post(f"{pair.b}/api/messages/msg_nope/cancel", timeout=10).status_code == 404
    assert (
        httpx.get(f"{pair.b}/chat-stream", headers={"Last-Event-ID": "gen_nope.4"}, timeout=10).status_code
        == 204
    )


def test_an_owner_killed_mid_answer_ends_for_listeners_elsewhere_and_is_stored_interrupted(
    redis_space: RedisSpace, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    env = shared_env(
        redis_space,
        database_url,
        LLMRELAY_PROVIDER="scripted",
        LLMRELAY_SCRIPTED_REPLY=" ".join(["slow"] * 400),
        LLMRELAY_SCRIPTED_DELAY_SECONDS="0.05",
        LLMRELAY_DETACH_GRACE_SECONDS="30",
    )
    settings = make_settings(
        redis_url=redis_space.url, redis_prefix=redis_space.prefix, database_url=database_url
    )
    with (
        llmrelay_process(env) as (owner, a),
        serve(create_app(settings, provider=ScriptedProvider.replying("no"))) as b,
    ):
        killed = kill_owner_while_b_follows(owner, a, b)
        start, rest, took = killed.start, killed.rest, killed.took
        assert [kind for kind, _ in rest[-2:]] == ["error", "end"]
        assert json.loads(rest[-2][1])["kind"] == "interrupted"
        assert json.loads(rest[-1][1])["finish_reason"] == "error"
        assert took < 8, f"listeners waited {took:.1f}s"
        stored = httpx.get(f"{b}/api/conversations/{start['conversation_id']}", timeout=10).json()
        answer = stored["messages"][-1]
        assert answer["status"] == "interrupted"
        # What its listeners saw is kept (everything but what A had not yet written to Redis).
        assert answer["content"].startswith("slow slow slow")


def test_a_keys_request_limit_holds_across_processes(redis_space: RedisSpace, tmp_path: Path) -> None:
    """rpm counted in the Redis both share: request N+1 is refused whichever process gets it."""
    key = "sk-shared-limit"
    settings = make_settings(
        redis_url=redis_space.url,
        redis_prefix=redis_space.prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        api_keys=key,
        default_rpm=3,
    )
    headers = {"Authorization": f"Bearer {key}"}
    with (
        serve(create_app(settings, provider=ScriptedProvider.replying(REPLY))) as a,
        serve(create_app(settings, provider=ScriptedProvider.replying(REPLY))) as b,
    ):
        answered = [
            httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=headers, timeout=10)
            for url in (a, b, a)
        ]
        assert [r.status_code for r in answered] == [200, 200, 200]
        for url in (b, a):  # the fourth and fifth, on either process
            refused = httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=headers, timeout=10)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert "3 requests per minute" in refused.json()["detail"]


def test_a_keys_answers_at_once_are_counted_across_processes(redis_space: RedisSpace, tmp_path: Path) -> None:
    """max_streams=1 counted in the Redis both share: an answer running on A takes the key's
    one slot, so B refuses a second; once A's answer ended, B takes the next."""
    key = "sk-one-at-a-time"
    settings = make_settings(
        redis_url=redis_space.url,
        redis_prefix=redis_space.prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        api_keys=key,
        default_max_streams=1,
    )
    headers = {"Authorization": f"Bearer {key}"}
    slow = ScriptedProvider.replying(REPLY, delay_seconds=0.03)
    with (
        serve(create_app(settings, provider=slow)) as a,
        serve(create_app(settings, provider=ScriptedProvider.replying(REPLY))) as b,
        httpx.Client(timeout=30) as client,
    ):
        from httpx_sse import connect_sse

        with connect_sse(
            client, "GET", f"{a}/chat-stream", params={"message": "hi"}, headers=headers
        ) as first:
            assert first.response.status_code == 200
            events = first.iter_sse()
            assert next(events).event == "start"  # A's answer is running
            refused = httpx.get(f"{b}/chat-stream", params={"message": "hi"}, headers=headers, timeout=10)
            assert refused.status_code == 429, refused.text
            assert refused.json()["limit"] == "max_streams" and "at once" in refused.json()["detail"]
            assert refused.headers["retry-after"] == "1"
            rest = [e.event for e in events]  # A's answer runs to its end
            assert rest[-1] == "end"
        # Its slot was freed before its `end` went out: B takes the next at once.
        again, _ = read_some(f"{b}/chat-stream", None, params={"message": "hi"}, headers=headers)
        assert again[-1].event == "end"
        assert "".join(e.data for e in again if e.event == "message") == REPLY


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


def test_a_background_response_made_on_a_is_streamed_from_b_after_any_sequence_number(pair: Pair) -> None:
    with sdk(pair.a) as on_a, sdk(pair.b) as on_b:
        stream = on_a.responses.create(model="scripted", input="count", background=True, stream=True)
        first = []
        for event in stream:
            first.append(event)
            if len(first) == 6:
                break
        stream.close()  # cut on A; the response runs on there
        response_id = first[0].response.id  # type: ignore[attr-defined]
        last = first[-1].sequence_number
        rest = list(on_b.responses.retrieve(response_id, stream=True, starting_after=last))  # type: ignore[call-overload]
        events = first + rest
        assert [e.sequence_number for e in events] == list(range(len(events)))  # nothing lost or doubled
        assert events[-1].type == "response.completed"
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
        assert text == REPLY
        # From the start on B too, numbered as the first time.
        again = list(on_b.responses.retrieve(response_id, stream=True))  # type: ignore[call-overload]
        assert [e.sequence_number for e in again] == [e.sequence_number for e in events]
        done = on_b.responses.retrieve(response_id)
        assert (done.status, done.output_text) == ("completed", REPLY)
    assert len(pair.provider_a.requests) == 1 and pair.provider_b.requests == []


def test_a_background_response_cancelled_on_b_stops_its_upstream_on_a_within_a_second(
    redis_space: RedisSpace, tmp_path: Path, fake: FakeOpenAI, fake_url: str
) -> None:
    fake.script = FakeScript(deltas=tuple(f" w{i}" for i in range(400)), delay_seconds=0.05)
    settings = relay_settings(
        "openai-compatible",
        fake_url,
        model="upstream-model",
        redis_url=redis_space.url,
        redis_prefix=redis_space.prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
    )
    with (
        serve(create_app(settings)) as a,
        serve(create_app(settings)) as b,
        sdk(a) as on_a,
        sdk(b) as on_b,
    ):
        started = on_a.responses.create(model="upstream-model", input="go on", background=True)
        wait_until(lambda: len(fake.streams) == 1, timeout=5, what="A's upstream stream")
        assert on_b.responses.retrieve(started.id).status == "in_progress"
        asked = time.monotonic()
        cancelled = on_b.responses.cancel(started.id)
        assert cancelled.status == "cancelled"
        wait_until(lambda: fake.streams[0].disconnected_at is not None, timeout=2, what="the stream closed")
        gone = fake.streams[0].disconnected_at
        assert gone is not None and gone - asked <= 1.0, f"A closed its upstream {gone - asked:.2f}s after"
        assert on_b.responses.retrieve(started.id).status == "cancelled"
        assert on_a.responses.retrieve(started.id).status == "cancelled"
        assert len(fake.streams) == 1  # B never asked the upstream
