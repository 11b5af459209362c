"""Reasoning and refusals from an upstream, kept apart from the answer's text, through the
official OpenAI SDK and the page's API: Chat servers' `reasoning_content` / `reasoning` and
`refusal` deltas, the Responses API's reasoning summaries and refusal parts (the stand-in speaks
both), shown on /v1/chat/completions and /v1/responses, resumed exactly after a cut, and what
the store keeps of them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.sse_client import read_events
from tests.support.upstream import serve_relay

ASK = [{"role": "user", "content": "Is 7 prime?"}]
THOUGHTS = ("Seven has ", "no divisors\n", "but 1 and 7.")
ANSWER = ("Yes", ", 7 is prime.")
REFUSAL = ("I can't ", "help with that.")


@pytest.fixture(scope="module", params=["openai-compatible", "openai"])
def served(
    request: pytest.FixtureRequest, fake_upstream: tuple[FakeOpenAI, str]
) -> Iterator[tuple[str, str]]:
    """llmrelay in front of the stand-in speaking Chat Completions or the Responses API; a
    streamed response outlives a cut connection for the grace period."""
    with serve_relay(request.param, fake_upstream[1], model="upstream-model", detach_grace_seconds=10) as url:
        yield url, request.param


@pytest.fixture
def client(served: tuple[str, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{served[0]}/v1", api_key="x", max_retries=0) as sdk:
        yield sdk


def test_chat_completions_streams_reasoning_and_text_apart(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script = Script(deltas=ANSWER, reasoning=THOUGHTS)
    chunks = list(client.chat.completions.create(model="upstream-model", messages=ASK, stream=True))  # type: ignore[arg-type]
    reasoning = [getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks if c.choices]
    content = [c.choices[0].delta.content for c in chunks if c.choices]
    assert "".join(r for r in reasoning if r) == "".join(THOUGHTS)
    assert "".join(t for t in content if t) == "".join(ANSWER)
    # Reasoning comes first, never in the same chunk as text.
    first_text = next(i for i, t in enumerate(content) if t)
    last_thought = max(i for i, r in enumerate(reasoning) if r)
    assert last_thought < first_text

    whole = client.chat.completions.create(model="upstream-model", messages=ASK)  # type: ignore[arg-type]
    message = whole.choices[0].message
    assert message.content == "".join(ANSWER)
    assert getattr(message, "reasoning_content", None) == "".join(THOUGHTS)


def test_a_chat_server_naming_it_reasoning_is_read_too(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[str, str]
) -> None:
    if served[1] != "openai-compatible":
        pytest.skip("a Chat Completions upstream's field name")
    fake.script = Script(deltas=ANSWER, reasoning=THOUGHTS, reasoning_field="reasoning")
    whole = client.chat.completions.create(model="upstream-model", messages=ASK)  # type: ignore[arg-type]
    assert getattr(whole.choices[0].message, "reasoning_content", None) == "".join(THOUGHTS)
    assert whole.choices[0].message.content == "".join(ANSWER)


def test_a_refusal_is_the_refusal_field_not_the_content(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script = Script(deltas=(), refusal=REFUSAL)
    chunks = list(client.chat.completions.create(model="upstream-model", messages=ASK, stream=True))  # type: ignore[arg-type]
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices)
    assert refusal == "".join(REFUSAL)
    assert not "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model="upstream-model", messages=ASK)  # type: ignore[arg-type]
    assert (whole.choices[0].message.content, whole.choices[0].message.refusal) == (None, "".join(REFUSAL))


def _kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def test_responses_shows_a_reasoning_item_before_the_message(
    fake: FakeOpenAI, client: openai.OpenAI, served: tuple[str, str]
) -> None:
    fake.script = Script(deltas=ANSWER, reasoning=THOUGHTS)
    events = list(client.responses.create(model="upstream-model", input="Is 7 prime?", stream=True))
    kinds = _kinds(events)
    # A Responses upstream's summary stays a summary; a Chat server's reasoning_content is the
    # reasoning itself.
    summary = served[1] == "openai"
    delta_kind = "response.reasoning_summary_text.delta" if summary else "response.reasoning_text.delta"
    thoughts = [e.delta for e in events if e.type == delta_kind]  # type: ignore[union-attr]
    assert "".join(thoughts) == "".join(THOUGHTS)
    assert kinds.index(delta_kind) < kinds.index("response.output_text.delta")
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [e.item.type for e in added] == ["reasoning", "message"]  # type: ignore[union-attr]
    assert [e.output_index for e in added] == [0, 1]  # type: ignore[union-attr]
    done = events[-1]
    assert done.type == "response.completed"
    reasoning_item, message_item = done.response.output  # type: ignore[union-attr]
    assert (reasoning_item.type, message_item.type) == ("reasoning", "message")
    parts = reasoning_item.summary if summary else (reasoning_item.content or [])  # type: ignore[union-attr]
    assert [p.text for p in parts] == ["".join(THOUGHTS)]
    assert done.response.output_text == "".join(ANSWER)  # type: ignore[union-attr]
    assert [e.sequence_number for e in events] == list(range(len(events)))

    # The SDK's stream helper puts the same response together.
    with client.responses.stream(model="upstream-model", input="Is 7 prime?") as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == "".join(ANSWER)
    whole = client.responses.create(model="upstream-model", input="Is 7 prime?")
    assert [item.type for item in whole.output] == ["reasoning", "message"]
    assert whole.output_text == "".join(ANSWER)


def test_responses_shows_a_refusal_part_and_keeps_it(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script = Script(deltas=(), refusal=REFUSAL)
    events = list(client.responses.create(model="upstream-model", input="Do something bad", stream=True))
    refusal = "".join(e.delta for e in events if e.type == "response.refusal.delta")  # type: ignore[union-attr]
    assert refusal == "".join(REFUSAL)
    (done_event,) = [e for e in events if e.type == "response.refusal.done"]
    assert done_event.refusal == refusal  # type: ignore[union-attr]
    final = events[-1].response  # type: ignore[union-attr]
    (message,) = final.output
    assert [(p.type, getattr(p, "refusal", None)) for p in message.content] == [("refusal", refusal)]
    assert final.output_text == ""
    # Kept: read back, the refusal is still the message's part.
    kept = client.responses.retrieve(final.id)
    assert [p.type for p in kept.output[0].content] == ["refusal"]  # type: ignore[union-attr]


def test_a_cut_response_stream_resumes_with_exactly_the_rest_of_its_reasoning(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    thoughts = tuple(f"step {i}. " for i in range(12))
    fake.script = Script(deltas=ANSWER, reasoning=thoughts, delay_seconds=0.05)
    stream = client.responses.create(model="upstream-model", input="Think", stream=True)
    first = []
    for event in stream:
        first.append(event)
        if event.type.startswith("response.reasoning") and event.type.endswith(".delta") and len(first) > 6:
            break
    stream.close()  # cut in the middle of the reasoning; the response goes on
    last = first[-1].sequence_number
    rest = list(client.responses.retrieve(first[0].response.id, stream=True, starting_after=last))  # type: ignore[attr-defined]
    events = first + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))  # nothing lost or doubled
    shown = "".join(
        e.delta  # type: ignore[union-attr]
        for e in events
        if e.type in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta")
    )
    assert shown == "".join(thoughts)
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "".join(ANSWER)  # type: ignore[union-attr]
    # The store keeps the answer and not the reasoning: read back, there is no reasoning item.
    kept = client.responses.retrieve(first[0].response.id)  # type: ignore[attr-defined]
    assert [item.type for item in kept.output] == ["message"]


def test_the_chat_api_shows_reasoning_events_resumes_them_and_stores_the_answer_without_them(
    fake: FakeOpenAI, served: tuple[str, str]
) -> None:
    url = served[0]
    thoughts = tuple(f"think {i}. " for i in range(10))
    fake.script = Script(deltas=ANSWER, reasoning=thoughts, refusal=(" Sorry.",), delay_seconds=0.05)
    first = read_events(f"{url}/api/chat", method="POST", json={"message": "Is 7 prime?"}, limit=5)
    start = json.loads(first[0].data)
    assert [e.event for e in first[1:]] == ["reasoning"] * 4
    rest = read_events(
        f"{url}/api/messages/{start['message_id']}/events", headers={"Last-Event-ID": first[-1].id}
    )
    events = first + rest
    assert [int(e.id.rsplit(".", 1)[1]) for e in events] == list(range(len(events)))
    shown = "".join(json.loads(e.data)["text"] for e in events if e.event == "reasoning")
    assert shown == "".join(thoughts)
    said = [json.loads(e.data) for e in events if e.event == "delta"]
    assert "".join(d["text"] for d in said if not d.get("refusal")) == "".join(ANSWER)
    assert [d["text"] for d in said if d.get("refusal")] == [" Sorry."]
    assert json.loads(events[-1].data) == {"finish_reason": "stop"}
    # The conversation keeps what the person read (the answer, then the refusal), not the reasoning.
    deadline = time.monotonic() + 5
    while True:
        stored = httpx.get(f"{url}/api/conversations/{start['conversation_id']}").json()
        answer = stored["messages"][-1]
        if answer["status"] == "complete" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer["content"] == "".join(ANSWER) + " Sorry."
