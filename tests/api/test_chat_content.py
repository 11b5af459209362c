"""The chat API beyond one model and plain text: choosing a model, images, tool calls,
regenerating the last answer, and the markdown the page shows while an answer streams.

Real servers and databases (SQLite and PostgreSQL); the scripted model, and the OpenAI stand-in
(tests/support/fake_openai.py) where an upstream must see what llmrelay sends it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.base import ToolCall
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.fake_openai import FakeOpenAI, FakeToolCall
from tests.support.fake_openai import Script as FakeScript
from tests.support.models_files import seeing_and_blind, write_models_file
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.sse_client import Event, read_events

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()
IMAGE = f"data:image/png;base64,{PNG}"


def models_file(tmp_path: Path, fake_url: str) -> Path:
    return write_models_file(tmp_path, seeing_and_blind(fake_url))


@pytest.fixture
def two_models(tmp_path: Path, fake_url: str, database_url: str) -> Iterator[str]:
    settings = make_settings(models_file=models_file(tmp_path, fake_url), database_url=database_url)
    with serve(create_app(settings)) as url:
        yield url


def data(event: Event) -> dict[str, Any]:
    return json.loads(event.data)  # type: ignore[no-any-return]


def chat(url: str, **body: Any) -> list[Event]:
    return read_events(f"{url}/api/chat", method="POST", json=body)


def text_of(events: list[Event]) -> str:
    return "".join(data(e)["text"] for e in events if e.event == "delta")


def conversation(url: str, conversation_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/conversations/{conversation_id}")
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


# -- models ------------------------------------------------------------------------------------


def test_models_are_listed_and_each_message_goes_to_the_one_it_names(
    two_models: str, fake: FakeOpenAI
) -> None:
    listed = httpx.get(f"{two_models}/api/models").json()
    assert listed == {
        "default": "blind",
        "models": [
            {"name": "blind", "provider": "scripted", "sees_images": False},
            {"name": "seeing", "provider": "openai-compatible", "sees_images": True},
        ],
    }
    first = chat(two_models, message="hi")  # no model: the default
    assert data(first[0])["model"] == "blind" and text_of(first) == "I only read."
    conversation_id = data(first[0])["conversation_id"]
    assert conversation(two_models, conversation_id)["model"] == "blind"

    second = chat(two_models, message="and you?", conversation_id=conversation_id, model="seeing")
    assert data(second[0])["model"] == "seeing" and text_of(second) == "Hello there!"
    assert fake.requests[-1].body["model"] == "upstream-vision"
    stored = conversation(two_models, conversation_id)
    # The conversation is on the model of its latest answer; each answer keeps its own.
    assert stored["model"] == "seeing"
    assert [m["model"] for m in stored["messages"] if m["role"] == "assistant"] == ["blind", "seeing"]


def test_an_unknown_model_is_404_and_stores_nothing(two_models: str) -> None:
    response = httpx.post(f"{two_models}/api/chat", json={"message": "hi", "model": "gpt-9"})
    assert response.status_code == 404
    assert response.json() == {"detail": "No model named 'gpt-9'; this server has: blind, seeing."}
    assert httpx.get(f"{two_models}/api/conversations").json() == []


# -- images ------------------------------------------------------------------------------------


def test_an_image_reaches_the_upstream_as_an_image_part_and_is_kept(
    two_models: str, fake: FakeOpenAI
) -> None:
    events = chat(two_models, message="What is this?", model="seeing", images=[IMAGE])
    assert events[-1].event == "end"
    sent = fake.requests[-1].body["messages"][-1]
    assert sent == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": IMAGE}},
        ],
    }
    conversation_id = data(events[0])["conversation_id"]
    question = conversation(two_models, conversation_id)["messages"][0]
    assert (question["content"], question["images"]) == ("What is this?", [IMAGE])

    # The next turn's history carries the image again: the model still sees what it was shown.
    chat(two_models, message="And now?", model="seeing", conversation_id=conversation_id)
    history = fake.requests[-1].body["messages"]
    assert history[0]["content"][1] == {"type": "image_url", "image_url": {"url": IMAGE}}
    # A model that cannot see gets the words alone (the person chose it): no refusal.
    blind = chat(two_models, message="Describe it in words.", model="blind", conversation_id=conversation_id)
    assert text_of(blind) == "I only read." and data(blind[-1]) == {"finish_reason": "stop"}


@pytest.mark.parametrize(
    ("images", "status", "detail"),
    [
        pytest.param([IMAGE], 400, "The model 'blind' cannot see images", id="a-model-that-cannot-see"),
        pytest.param(["https://example.com/cat.png"], 422, "must be a data URL", id="a-link"),
        pytest.param(["data:image/svg+xml;base64,PHN2Zz4="], 422, "PNG, JPEG, GIF or WebP", id="svg"),
        pytest.param(["data:image/png;base64,@@@"], 422, "must be a data URL", id="not-base64"),
        pytest.param(["data:image/png;base64,abc"], 422, "not valid base64", id="bad-padding"),
        pytest.param([IMAGE] * 9, 422, "at most 8", id="too-many"),
    ],
)
def test_images_that_cannot_go_are_refused_clearly(
    two_models: str, fake: FakeOpenAI, images: list[str], status: int, detail: str
) -> None:
    model = "blind" if status == 400 else "seeing"
    response = httpx.post(
        f"{two_models}/api/chat", json={"message": "look", "model": model, "images": images}
    )
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"detail"} and detail in body["detail"]
    assert httpx.get(f"{two_models}/api/conversations").json() == []  # nothing stored
    assert fake.requests == []


def test_an_image_over_the_size_limit_is_413(tmp_path: Path, fake_url: str) -> None:
    settings = make_settings(models_file=models_file(tmp_path, fake_url), max_image_bytes=16)
    with serve(create_app(settings)) as url:
        response = httpx.post(
            f"{url}/api/chat", json={"message": "look", "model": "seeing", "images": [IMAGE]}
        )
        assert response.status_code == 413
        assert (
            response.json()["detail"] == "images[0] is 32 bytes; the limit is 16 (LLMRELAY_MAX_IMAGE_BYTES)."
        )


# -- tool calls --------------------------------------------------------------------------------


def test_tool_calls_stream_as_events_are_stored_and_replay(
    tmp_path: Path, fake: FakeOpenAI, fake_url: str, database_url: str
) -> None:
    fake.script = FakeScript(
        deltas=["Checking."],
        tool_calls=[FakeToolCall("call_w", "get_weather", ['{"city": ', '"Paris"}'])],
    )
    settings = make_settings(
        models_file=models_file(tmp_path, fake_url), database_url=database_url, stream_retention_seconds=0
    )
    with serve(create_app(settings)) as url:
        events = chat(url, message="Weather?", model="seeing")
        pieces = [data(e) for e in events if e.event == "tool_call"]
        assert pieces == [
            {"index": 0, "id": "call_w", "name": "get_weather", "arguments": ""},
            {"index": 0, "id": None, "name": None, "arguments": '{"city": '},
            {"index": 0, "id": None, "name": None, "arguments": '"Paris"}'},
        ]
        assert data(events[-1]) == {"finish_reason": "tool_calls"}
        start = data(events[0])
        answer = conversation(url, start["conversation_id"])["messages"][-1]
        assert answer["content"] == "Checking."
        assert answer["tool_calls"] == [
            {"id": "call_w", "name": "get_weather", "arguments": '{"city": "Paris"}'}
        ]
        # No longer held in memory: the stored answer replays with its call whole.
        replay = read_events(f"{url}/api/messages/{start['message_id']}/events")
        assert [e.event for e in replay] == ["start", "delta", "tool_call", "usage", "end"]
        assert data(replay[2]) == {
            "index": 0,
            "id": "call_w",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        }

        # The next turn's history has the answer's words, not a call nothing answered.
        chat(url, message="Thanks.", model="seeing", conversation_id=start["conversation_id"])
        history = fake.requests[-1].body["messages"]
        assert history[1] == {"role": "assistant", "content": "Checking."}


# -- regenerate --------------------------------------------------------------------------------


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider.replying("First try.")


@pytest.fixture
def server(provider: ScriptedProvider, database_url: str) -> Iterator[str]:
    with serve(create_app(make_settings(database_url=database_url), provider=provider)) as url:
        yield url


def test_regenerate_replaces_the_last_answer_from_the_same_history(
    server: str, provider: ScriptedProvider
) -> None:
    first = chat(server, message="Tell me something.")
    start = data(first[0])
    provider.script = Script(["Second", " try."], tool_calls=[ToolCall("c1", "note", "{}")])
    again = read_events(f"{server}/api/messages/{start['message_id']}/regenerate", method="POST")

    restart = data(again[0])
    assert restart["conversation_id"] == start["conversation_id"]
    assert restart["user_message_id"] == start["user_message_id"]
    assert restart["message_id"] != start["message_id"]
    assert text_of(again) == "Second try."
    assert [(m.role, m.content) for m in provider.requests[1].messages] == [("user", "Tell me something.")]
    assert provider.requests[1].messages == provider.requests[0].messages  # the model was asked again
    stored = conversation(server, start["conversation_id"])["messages"]
    assert [(m["id"], m["content"]) for m in stored] == [
        (start["user_message_id"], "Tell me something."),
        (restart["message_id"], "Second try."),
    ]
    assert stored[1]["tool_calls"] == [{"id": "c1", "name": "note", "arguments": "{}"}]
    gone = httpx.post(f"{server}/api/messages/{start['message_id']}/regenerate")
    assert gone.status_code == 404 and start["message_id"] in gone.json()["detail"]


def test_only_the_last_finished_answer_can_be_regenerated(server: str, provider: ScriptedProvider) -> None:
    first = data(chat(server, message="one")[0])
    chat(server, message="two", conversation_id=first["conversation_id"])
    response = httpx.post(f"{server}/api/messages/{first['message_id']}/regenerate")
    assert response.status_code == 409
    assert response.json() == {"detail": "Only the last answer of a conversation can be regenerated."}
    question = httpx.post(f"{server}/api/messages/{first['user_message_id']}/regenerate")
    assert question.status_code == 404
    unknown = httpx.post(f"{server}/api/messages/msg_nope/regenerate", json={"model": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert len(provider.requests) == 2


def test_regenerate_with_another_model(two_models: str, fake: FakeOpenAI) -> None:
    start = data(chat(two_models, message="hi", model="blind")[0])
    again = read_events(
        f"{two_models}/api/messages/{start['message_id']}/regenerate", method="POST", json={"model": "seeing"}
    )
    assert data(again[0])["model"] == "seeing" and text_of(again) == "Hello there!"
    assert fake.requests[-1].body["messages"] == [{"role": "user", "content": "hi"}]
    assert conversation(two_models, start["conversation_id"])["model"] == "seeing"


# -- markdown while it streams ---------------------------------------------------------------


def test_markdown_being_written_comes_back_as_final_blocks_and_the_open_one(server: str) -> None:
    response = httpx.post(f"{server}/api/markdown", json={"text": "- one\n- two\n\n```py\nx = '<b>'"})
    assert response.status_code == 200
    assert response.json() == {
        "closed_html": "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
        "closed_lines": 3,
        "open_html": "<pre><code class=\"language-py\">x = '&lt;b&gt;'</code></pre>\n",
    }
    too_long = httpx.post(f"{server}/api/markdown", json={"text": "x" * 200_001})
    assert too_long.status_code == 422 and "200000" in too_long.json()["detail"]
