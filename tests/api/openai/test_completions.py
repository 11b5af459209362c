"""`POST /v1/completions` (legacy text completion) through the official `openai` SDK: the scripted
model behind a real server, and the wire-level stand-in upstream behind the `openai-compatible`
(its own /v1/completions) and `openai` (Responses: the prompt as one user message) backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.base import ProviderError, UpstreamRateLimited
from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import KEY, serve_relay

REPLY = "Hello there, world!"
PROMPT = "Once upon"


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider(Script(split_into_deltas(REPLY)), model="scripted")


@pytest.fixture
def url(provider: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=provider)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_a_whole_completion_continues_the_raw_prompt(
    client: openai.OpenAI, provider: ScriptedProvider
) -> None:
    completion = client.completions.create(
        model="scripted", prompt=PROMPT, max_tokens=50, temperature=0.5, top_p=0.9, stop=["\n"], user="u1"
    )
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-") and completion.model == "scripted"
    (choice,) = completion.choices
    assert (choice.index, choice.text, choice.finish_reason, choice.logprobs) == (0, REPLY, "stop", None)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 3)
    assert completion.usage.total_tokens == 5
    request = provider.requests[-1]
    # No chat template: the prompt is the provider's whole input.
    assert (request.prompt, tuple(request.messages)) == (PROMPT, ())
    assert (request.max_tokens, request.temperature, request.top_p, tuple(request.stop)) == (
        50,
        0.5,
        0.9,
        ("\n",),
    )


def test_max_tokens_defaults_to_16_as_at_openai(client: openai.OpenAI, provider: ScriptedProvider) -> None:
    client.completions.create(model="scripted", prompt=[PROMPT])  # a list of one prompt is one prompt
    assert provider.requests[-1].max_tokens == 16
    assert provider.requests[-1].prompt == PROMPT
    cut = client.completions.create(model="scripted", prompt=PROMPT, max_tokens=1)
    assert (cut.choices[0].text, cut.choices[0].finish_reason) == ("Hello", "length")


def test_a_streamed_completion_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="scripted", prompt=PROMPT, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.object == "text_completion" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert "".join(c.choices[0].text for c in chunks if c.choices) == REPLY
    # The finishing chunk has no text; the usage chunk after it has no choices.
    assert (chunks[-2].choices[0].text, chunks[-2].choices[0].finish_reason) == ("", "stop")
    assert all(c.choices[0].finish_reason is None for c in chunks[:-2])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 3)
    assert all(c.usage is None for c in chunks[:-1])


def test_the_stream_on_the_wire_ends_with_done(url: str) -> None:
    body = {"model": "scripted", "prompt": PROMPT, "stream": True}
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # It asked a model, so it carries llmrelay's own time.
        assert float(response.headers["x-llmrelay-overhead-ms"]) >= 0
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"usage"' not in "".join(lines)
    assert all('"object":"text_completion"' in line for line in lines[:-1])


def test_echo_puts_the_prompt_before_the_completion(client: openai.OpenAI) -> None:
    whole = client.completions.create(model="scripted", prompt=PROMPT, echo=True)
    assert whole.choices[0].text == PROMPT + REPLY
    chunks = list(client.completions.create(model="scripted", prompt=PROMPT, echo=True, stream=True))
    assert chunks[0].choices[0].text == PROMPT
    assert "".join(c.choices[0].text for c in chunks) == PROMPT + REPLY


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"n": 9}, "n"),  # above the most choices one request may ask for (8)
        ({"n": 0}, "n"),
        ({"best_of": 3}, "best_of"),
        ({"logprobs": 1}, "logprobs"),
        ({"suffix": "}\n"}, "suffix"),
        # The scripted model has no sampling to seed or penalise (beyond_provider).
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"seed": 7}, "seed"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": [[1, 2], [3]]}, "prompt"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"extra_body": {"frobnicate": True}}, "frobnicate"),
    ],
)
def test_what_cannot_be_honoured_is_a_400_naming_it(
    client: openai.OpenAI, provider: ScriptedProvider, params: dict[str, Any], param: str
) -> None:
    arguments: dict[str, Any] = {"model": "scripted", "prompt": PROMPT, **params}
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(**arguments)
    assert caught.value.param == param, caught.value.message
    assert param in caught.value.message
    assert provider.requests == []  # nothing was generated


def test_neutral_values_of_refused_parameters_are_accepted(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model="scripted", prompt=PROMPT, n=1, best_of=1, suffix="", presence_penalty=0
    )
    assert completion.choices[0].text == REPLY


def test_an_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="gpt-nope", prompt=PROMPT)
    assert caught.value.code == "model_not_found"


def test_a_failure_before_the_first_token_is_its_status(
    client: openai.OpenAI, provider: ScriptedProvider
) -> None:
    provider.script = Script(["x"], error=UpstreamRateLimited("Slow down."), fail_after=0)
    with pytest.raises(openai.RateLimitError):
        client.completions.create(model="scripted", prompt=PROMPT)
    with pytest.raises(openai.RateLimitError):
        client.completions.create(model="scripted", prompt=PROMPT, stream=True)


def test_a_failure_mid_stream_raises_in_the_sdk(client: openai.OpenAI, provider: ScriptedProvider) -> None:
    provider.script = Script(["a", "b", "c"], error=ProviderError("The model broke."), fail_after=2)
    stream = client.completions.create(model="scripted", prompt=PROMPT, stream=True)
    texts: list[str] = []
    with pytest.raises(openai.APIError, match="The model broke"):
        for chunk in stream:
            texts.append(chunk.choices[0].text)
    assert texts == ["a", "b"]


# -- through an upstream -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compatible(fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[openai.OpenAI]:
    with (
        serve_relay("openai-compatible", fake_upstream[1], model="instruct") as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk,
    ):
        yield sdk


@pytest.mark.parametrize("stream", [False, True])
def test_openai_compatible_sends_the_prompt_to_the_upstreams_completions(
    fake: FakeOpenAI, compatible: openai.OpenAI, stream: bool
) -> None:
    fake.script = FakeScript(deltas=["Hello", " there", "\nline two"], input_tokens=5)
    if stream:
        chunks = list(
            compatible.completions.create(
                model="instruct",
                prompt=PROMPT,
                stop=["\n\n"],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        usage = chunks[-1].usage
        finish = chunks[-2].choices[0].finish_reason
    else:
        completion = compatible.completions.create(model="instruct", prompt=PROMPT, stop=["\n\n"], seed=3)
        text, usage, finish = (
            completion.choices[0].text,
            completion.usage,
            completion.choices[0].finish_reason,
        )
    assert text == "Hello there\nline two"
    assert finish == "stop"
    # The upstream's own counts, not llmrelay's estimate.
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (5, 3)
    (sent,) = fake.requests
    assert sent.path == "/v1/completions"
    assert sent.body["prompt"] == PROMPT and "messages" not in sent.body
    assert (sent.body["model"], sent.body["max_tokens"], sent.body["stop"]) == ("instruct", 16, ["\n\n"])
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body.get("seed") == (None if stream else 3)
    assert KEY not in sent.body.values()


def test_openai_compatible_upstream_failures_reach_the_client(
    fake: FakeOpenAI, compatible: openai.OpenAI
) -> None:
    fake.script = FakeScript(status=429)
    with pytest.raises(openai.RateLimitError):
        compatible.completions.create(model="instruct", prompt=PROMPT)
    fake.script = FakeScript(deltas=["a", "b"], fail_after=1, error_message="The engine fell over.")
    stream = compatible.completions.create(model="instruct", prompt=PROMPT, stream=True)
    with pytest.raises(openai.APIError, match="The engine fell over"):
        for _ in stream:
            pass


def test_openai_sends_the_prompt_as_one_user_message(fake: FakeOpenAI, fake_url: str) -> None:
    with (
        serve_relay("openai", fake_url, model="gpt-4o-mini") as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk,
    ):
        completion = sdk.completions.create(model="gpt-4o-mini", prompt=PROMPT, max_tokens=20)
        # The Responses API has no stop sequences: asked for, they are refused, not dropped.
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.completions.create(model="gpt-4o-mini", prompt=PROMPT, stop=["\n"])
        assert caught.value.param == "stop"
    assert completion.choices[0].text == "Hello there!"
    (sent,) = fake.requests
    assert sent.path == "/v1/responses"
    assert sent.body["input"] == [{"role": "user", "content": PROMPT}]
    assert sent.body["max_output_tokens"] == 20
