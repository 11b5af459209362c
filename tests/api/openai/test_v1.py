"""The OpenAI API at /v1, used as a user would: through the official `openai` SDK, sync and async,
against a real llmrelay server (scripted model)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.base import ProviderError, UpstreamRateLimited
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from tests.support.servers import serve
from tests.support.settings import make_settings

REPLY = "Hello there, world!"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider(Script(split_into_deltas(REPLY)), model="scripted")


@pytest.fixture
def url(provider: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=provider)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    # No retries: a test that expects an error must see the first answer, not a retry's.
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def aclient(url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


# -- models ------------------------------------------------------------------------------------


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["scripted"]
    assert client.models.retrieve("scripted").id == "scripted"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")


# -- chat completions --------------------------------------------------------------------------


def test_chat_completion_whole(client: openai.OpenAI, provider: ScriptedProvider) -> None:
    completion = client.chat.completions.create(
        model="scripted",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hi"}]},
        ],
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=50,
        stop=["\n\n"],
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "scripted"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 3
    request = provider.requests[-1]
    assert [(m.role, m.content) for m in request.messages] == [("system", "Be brief."), ("user", "Say hi")]
    assert (request.temperature, request.top_p, request.max_tokens, tuple(request.stop)) == (
        0.5,
        0.9,
        50,
        ("\n\n",),
    )


def test_chat_completion_streamed_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="scripted", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    # The usage chunk comes last (before [DONE]), with no choices; the one before it finishes.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_without_usage_ends_with_done(url: str) -> None:
    body = {"model": "scripted", "messages": USER, "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"usage"' not in "".join(lines)


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="scripted", messages=USER, max_tokens=1)
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].finish_reason == "length"


async def test_async_chat_streamed(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="scripted", messages=USER, stream=True)
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == REPLY
    completion = await aclient.chat.completions.create(model="scripted", messages=USER)
    assert completion.choices[0].message.content == REPLY


# -- responses ---------------------------------------------------------------------------------


def test_response_whole_and_retrieved(client: openai.OpenAI) -> None:
    response = client.responses.create(model="scripted", input="hi", metadata={"who": "test"})
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == REPLY
    assert response.usage is not None and response.usage.output_tokens == 3
    again = client.responses.retrieve(response.id)
    assert again.id == response.id
    assert again.output_text == REPLY
    assert again.status == "completed"
    assert again.usage is not None and again.usage.output_tokens == 3


def test_response_streamed_event_sequence(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="scripted", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == REPLY
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == REPLY
    assert completed.response.usage is not None and completed.response.usage.output_tokens == 3
    assert client.responses.retrieve(completed.response.id).output_text == REPLY


def test_response_stream_helper_accumulates(client: openai.OpenAI) -> None:
    """The SDK's stricter helper rebuilds the response from the events."""
    with client.responses.stream(model="scripted", input="hi") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == REPLY
    assert final.output_text == REPLY


def test_previous_response_id_carries_the_conversation(
    client: openai.OpenAI, provider: ScriptedProvider
) -> None:
    first = client.responses.create(model="scripted", input="My name is Ada.", instructions="Be kind.")
    second = client.responses.create(
        model="scripted",
        input=[{"role": "user", "content": "What is my name?"}],
        previous_response_id=first.id,
        instructions="Be terse.",
    )
    assert second.previous_response_id == first.id
    seen = [(m.role, m.content) for m in provider.requests[-1].messages]
    # Earlier turns arrive; the earlier instructions do not (OpenAI does not carry them over).
    assert seen == [
        ("system", "Be terse."),
        ("user", "My name is Ada."),
        ("assistant", REPLY),
        ("user", "What is my name?"),
    ]
    third = client.responses.create(model="scripted", input="And again?", previous_response_id=second.id)
    assert [m.content for m in provider.requests[-1].messages] == [
        "My name is Ada.",
        REPLY,
        "What is my name?",
        REPLY,
        "And again?",
    ]
    assert third.output_text == REPLY


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model="scripted", input="hi", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="scripted", input="more", previous_response_id=response.id)
    assert raised.value.param == "previous_response_id"


def test_max_output_tokens_makes_it_incomplete(client: openai.OpenAI) -> None:
    whole = client.responses.create(model="scripted", input="hi", max_output_tokens=1)
    assert whole.status == "incomplete"
    assert whole.incomplete_details is not None and whole.incomplete_details.reason == "max_output_tokens"
    events = list(client.responses.create(model="scripted", input="hi", max_output_tokens=1, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.output_text == "Hello"
    assert client.responses.retrieve(events[-1].response.id).status == "incomplete"


async def test_async_responses(aclient: openai.AsyncOpenAI) -> None:
    response = await aclient.responses.create(model="scripted", input="hi")
    assert response.output_text == REPLY
    stream = await aclient.responses.create(
        model="scripted", input="hi", stream=True, previous_response_id=response.id
    )
    kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert (await aclient.responses.retrieve(response.id)).output_text == REPLY


# -- errors ------------------------------------------------------------------------------------


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-nope", messages=USER)
    assert raised.value.code == "model_not_found"
    assert "gpt-nope" in raised.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-nope", input="hi")
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 9}, "n"),  # above the most choices one request may ask for (8)
        ({"n": 0}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
        ({"logprobs": True}, "logprobs"),  # the scripted model gives no log probabilities
        ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
    ],
)
def test_unsupported_or_invalid_chat_params_are_400_naming_them(
    client: openai.OpenAI, extra: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="scripted", messages=USER, **extra)  # type: ignore[call-overload]
    assert raised.value.param == param
    assert param in raised.value.message


def test_bad_messages_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        )
    assert raised.value.param == "messages[0].content[0].type"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="scripted", messages=[{"role": "tool", "content": "x"}])  # type: ignore[list-item]
    assert raised.value.param == "messages[0].role"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="scripted", messages=[])
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="scripted", input="hi", tools=[{"type": "web_search"}])
    assert raised.value.param == "tools"
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(
            model="scripted",
            input=[{"type": "function_call_output", "call_id": "c1", "output": "42"}],
        )
    assert raised.value.param == "input"  # a result that answers no call
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="scripted", input=[{"role": "user", "content": 7}])  # type: ignore[list-item]
    assert raised.value.param == "input[0].content"
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="scripted", input="hi", text={"format": {"type": "json_object"}})
    assert raised.value.param == "text.format"  # what the scripted model lacks, in Responses' name


def test_unknown_parameter_and_bad_json_are_400(url: str) -> None:
    response = httpx.post(
        f"{url}/v1/chat/completions", json={"model": "scripted", "messages": USER, "bogus": 1}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Unrecognized request argument supplied: bogus.",
            "type": "invalid_request_error",
            "param": "bogus",
            "code": "unknown_parameter",
        }
    }
    response = httpx.post(
        f"{url}/v1/responses", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_errors_keep_their_shape_per_prefix(url: str) -> None:
    v1 = httpx.get(f"{url}/v1/nothing-here")
    assert v1.status_code == 404 and v1.json()["error"]["type"] == "invalid_request_error"
    api = httpx.get(f"{url}/api/nothing-here")
    assert api.status_code == 404 and "detail" in api.json()
    tutorial = httpx.get(f"{url}/chat-complete")
    assert tutorial.status_code == 422 and "detail" in tutorial.json()


@pytest.mark.parametrize(
    ("error", "exception", "status", "code"),
    [
        (
            UpstreamRateLimited("The upstream is rate limiting; try again shortly."),
            openai.RateLimitError,
            429,
            "rate_limit_exceeded",
        ),
        (ProviderError("The upstream failed."), openai.InternalServerError, 502, "upstream_error"),
        (
            ProviderError("Prompt too long.", status=413, kind="context_length_exceeded"),
            openai.BadRequestError,
            400,
            "context_length_exceeded",
        ),
    ],
)
def test_upstream_failures_map_to_sdk_exceptions(
    provider: ScriptedProvider,
    client: openai.OpenAI,
    error: ProviderError,
    exception: type[openai.APIStatusError],
    status: int,
    code: str,
) -> None:
    provider.script = Script(["never"], error=error, fail_after=0)
    for call in (
        lambda: client.chat.completions.create(model="scripted", messages=USER),
        lambda: client.chat.completions.create(model="scripted", messages=USER, stream=True),
        lambda: client.responses.create(model="scripted", input="hi"),
        lambda: client.responses.create(model="scripted", input="hi", stream=True),
    ):
        with pytest.raises(exception) as raised:
            call()
        assert raised.value.status_code == status
        assert raised.value.code == code
        assert isinstance(raised.value.body, dict)
        assert raised.value.body["message"] == error.message


def test_failure_mid_stream(provider: ScriptedProvider, client: openai.OpenAI) -> None:
    provider.script = Script(
        ["one", " two", " three"], error=ProviderError("The upstream broke."), fail_after=1
    )
    stream = client.chat.completions.create(model="scripted", messages=USER, stream=True)
    seen = []
    with pytest.raises(openai.APIError, match=r"The upstream broke\."):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "one" in seen
    events = list(client.responses.create(model="scripted", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error is not None
    assert events[-1].response.error.message == "The upstream broke."
