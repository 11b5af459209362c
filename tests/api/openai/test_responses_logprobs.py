"""Log probabilities on /v1/responses (`include: ["message.output_text.logprobs"]`, with
`top_logprobs` alternatives), through the official OpenAI SDK: computed by the embedded model,
passed through from both OpenAI-SDK backends (the stand-in as a Responses and as a Chat
upstream), kept with the response (GET), the same when a background stream is cut and resumed;
refused with a 400 naming the parameter where the provider cannot give them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseOutputText

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.clients import Relay, local_relay
from tests.support.fake_openai import FakeOpenAI, Script, fake_alternatives, fake_logprob
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import serve_relay

LOGPROBS: list[Any] = ["message.output_text.logprobs"]
DELTAS = ("Hel", "lo", " there", "!")
REPLY = "Hello there, world!"


def _text_part(response: openai.types.responses.Response) -> ResponseOutputText:
    (message,) = [item for item in response.output if item.type == "message"]
    (part,) = message.content
    assert isinstance(part, ResponseOutputText)
    return part


def _tokens(logprobs: Sequence[Any]) -> list[tuple[str, float, list[tuple[str | None, float | None]]]]:
    """Each token, its logprob and its alternatives: what both shapes (events, content) share."""
    return [(t.token, t.logprob, [(a.token, a.logprob) for a in t.top_logprobs or ()]) for t in logprobs]


def _expected(deltas: Sequence[str], alternatives: int) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """What the stand-in gives: one token per delta."""
    return [(d, fake_logprob(i), fake_alternatives(d, i, alternatives)) for i, d in enumerate(deltas)]


def _of_type(events: Sequence[Any], kind: str) -> list[Any]:
    return [event for event in events if event.type == kind]


# -- the embedded model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> Iterator[Relay]:
    with local_relay(max_output_tokens=8) as relay:
        yield relay


@pytest.fixture(scope="module")
def local_sdk(local: Relay) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=local.v1, api_key="x", max_retries=0) as sdk:
        yield sdk


@pytest.mark.model
def test_the_embedded_model_streams_each_deltas_tokens_then_the_whole_answers(
    local: Relay, local_sdk: openai.OpenAI
) -> None:
    events: list[Any] = list(
        local_sdk.responses.create(
            model=local.model,
            input="Say hello.",
            max_output_tokens=8,
            include=LOGPROBS,
            top_logprobs=2,
            stream=True,
        )
    )
    deltas = _of_type(events, "response.output_text.delta")
    assert deltas
    for delta in deltas:
        assert "".join(t.token for t in delta.logprobs) == delta.delta  # each delta is its tokens
    tokens = [t for delta in deltas for t in delta.logprobs]
    for token in tokens:
        values = [a.logprob for a in token.top_logprobs]
        assert token.logprob <= 0 and len(values) == 2
        assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
        assert token.logprob <= values[0] + 1e-9  # never likelier than the likeliest
    text = "".join(delta.delta for delta in deltas)
    (done,) = _of_type(events, "response.output_text.done")
    assert done.text == text and _tokens(done.logprobs) == _tokens(tokens)
    final = events[-1].response
    part = _text_part(final)
    assert part.text == text and part.logprobs is not None
    assert _tokens(part.logprobs) == _tokens(tokens)
    # The content part's bytes, joined, are the text's (a split character: its bytes in each).
    assert b"".join(bytes(t.bytes) for t in part.logprobs) == text.encode()
    (content_done,) = _of_type(events, "response.content_part.done")
    assert content_done.part == part
    # Kept with the response: read back as they were sent.
    assert _text_part(local_sdk.responses.retrieve(final.id)).logprobs == part.logprobs


@pytest.mark.model
def test_the_embedded_model_gives_a_whole_answers_tokens_and_none_when_not_included(
    local: Relay, local_sdk: openai.OpenAI
) -> None:
    whole = local_sdk.responses.create(
        model=local.model, input="Say hello.", max_output_tokens=6, temperature=0, include=LOGPROBS
    )
    part = _text_part(whole)
    assert part.logprobs and part.text
    assert "".join(t.token for t in part.logprobs) == part.text
    assert all(t.logprob <= 0 and t.top_logprobs == [] for t in part.logprobs)  # none asked
    # top_logprobs without the include asks for nothing (as OpenAI's): the same greedy text.
    plain = local_sdk.responses.create(
        model=local.model, input="Say hello.", max_output_tokens=6, temperature=0, top_logprobs=3
    )
    assert plain.output_text == whole.output_text and _text_part(plain).logprobs == []
    assert (plain.top_logprobs, whole.top_logprobs) == (3, None)


# -- passed through from an upstream ------------------------------------------------------------


@pytest.fixture(scope="module", params=["openai", "openai-compatible"])
def upstream(
    request: pytest.FixtureRequest, fake_upstream: tuple[FakeOpenAI, str]
) -> Iterator[tuple[str, openai.OpenAI]]:
    """llmrelay in front of the stand-in as a Responses (`openai`) or a Chat upstream."""
    kind: str = request.param
    with (
        serve_relay(kind, fake_upstream[1], model="upstream-model") as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk,
    ):
        yield kind, sdk


def _asked_upstream(kind: str, body: dict[str, Any]) -> tuple[object, object]:
    """What the upstream request asked for: (logprobs at all, alternatives), in its API's names."""
    if kind == "openai":
        return body.get("include"), body.get("top_logprobs")
    return body.get("logprobs"), body.get("top_logprobs")


def test_an_upstreams_logprobs_pass_through_exactly_streamed_whole_and_kept(
    fake: FakeOpenAI, upstream: tuple[str, openai.OpenAI]
) -> None:
    kind, sdk = upstream
    fake.script = Script(deltas=DELTAS)
    events: list[Any] = list(
        sdk.responses.create(
            model="upstream-model", input="Say hello.", include=LOGPROBS, top_logprobs=2, stream=True
        )
    )
    assert _asked_upstream(kind, fake.requests[-1].body) == ((LOGPROBS, 2) if kind == "openai" else (True, 2))
    deltas = _of_type(events, "response.output_text.delta")
    assert [_tokens(delta.logprobs) for delta in deltas] == [[token] for token in _expected(DELTAS, 2)]
    (done,) = _of_type(events, "response.output_text.done")
    assert _tokens(done.logprobs) == _expected(DELTAS, 2)
    final = events[-1].response
    assert final.top_logprobs == 2
    part = _text_part(final)
    assert _tokens(part.logprobs or ()) == _expected(DELTAS, 2)
    assert [t.bytes for t in part.logprobs or ()] == [list(d.encode()) for d in DELTAS]
    assert _text_part(sdk.responses.retrieve(final.id)).logprobs == part.logprobs

    # Whole, with no alternatives asked: each token alone, and none asked of the upstream.
    whole = sdk.responses.create(model="upstream-model", input="Say hello.", include=LOGPROBS)
    assert _tokens(_text_part(whole).logprobs or ()) == _expected(DELTAS, 0)
    assert _asked_upstream(kind, fake.requests[-1].body)[1] is None

    # Not included: the upstream is not asked, and the answer shows none.
    plain = sdk.responses.create(model="upstream-model", input="Say hello.", top_logprobs=2)
    assert _text_part(plain).logprobs == [] and plain.output_text == "".join(DELTAS)
    assert _asked_upstream(kind, fake.requests[-1].body) == (None, None)


def test_a_background_response_cut_and_resumed_gives_exactly_the_same_logprobs(
    fake: FakeOpenAI, upstream: tuple[str, openai.OpenAI]
) -> None:
    _, sdk = upstream
    deltas = tuple(f" w{i}" for i in range(12))
    fake.script = Script(deltas=deltas, delay_seconds=0.03)
    stream = sdk.responses.create(
        model="upstream-model",
        input="count",
        background=True,
        stream=True,
        include=LOGPROBS,
        top_logprobs=1,
    )
    first: list[Any] = []
    for event in stream:
        first.append(event)
        if len(_of_type(first, "response.output_text.delta")) == 3:
            break
    stream.close()  # the connection is cut; the response goes on
    response_id = first[0].response.id
    rest: list[Any] = list(
        sdk.responses.retrieve(response_id, stream=True, starting_after=first[-1].sequence_number)
    )
    events = first + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    tokens = [t for delta in _of_type(events, "response.output_text.delta") for t in delta.logprobs]
    assert _tokens(tokens) == _expected(deltas, 1)

    # Read again from the start: every event that carries logprobs is as it was first sent.
    again: list[Any] = list(sdk.responses.retrieve(response_id, stream=True))
    carrying = {"response.output_text.delta", "response.output_text.done", "response.content_part.done"}
    assert [e.model_dump() for e in again if e.type in carrying] == [
        e.model_dump() for e in events if e.type in carrying
    ]
    final = _text_part(events[-1].response)
    assert _text_part(again[-1].response) == final
    assert _tokens(final.logprobs or ()) == _expected(deltas, 1)
    # And kept: GET shows them once it is done.
    assert _text_part(sdk.responses.retrieve(response_id)).logprobs == final.logprobs


# -- refused or accepted ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted() -> Iterator[openai.OpenAI]:
    provider = ScriptedProvider.replying(REPLY)
    with (
        serve(create_app(make_settings(), provider=provider)) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk,
    ):
        yield sdk


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"include": LOGPROBS}, "include"),  # the scripted model gives no log probabilities
        ({"include": LOGPROBS, "top_logprobs": 3}, "include"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),  # llmrelay has none to give
        ({"include": ["message.output_text.everything"]}, "include"),  # not a value OpenAI knows
        ({"include": LOGPROBS, "top_logprobs": 21}, "top_logprobs"),
        ({"top_logprobs": -1}, "top_logprobs"),
    ],
)
def test_what_cannot_be_given_is_400_naming_the_parameter(
    scripted: openai.OpenAI, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        scripted.responses.create(model="scripted", input="hi", **extra)
    assert raised.value.param == param
    assert param in raised.value.message


def test_include_values_that_withhold_nothing_and_top_logprobs_alone_are_accepted(
    scripted: openai.OpenAI,
) -> None:
    """The outputs of built-in tools (llmrelay refuses those tools) and input image URLs
    (never shown changed): nothing is left out, so asking for them is answered as asked."""
    response = scripted.responses.create(
        model="scripted",
        input="hi",
        include=[
            "message.input_image.image_url",
            "web_search_call.action.sources",
            "file_search_call.results",
        ],
        top_logprobs=3,
    )
    assert response.output_text == REPLY and _text_part(response).logprobs == []
    assert response.top_logprobs == 3
