"""`logprobs` / `top_logprobs` on /v1/chat/completions and `logprobs` on /v1/completions, through
the official OpenAI SDK: computed by the embedded model, passed through from an
OpenAI-compatible or a Responses upstream (the stand-in), refused with a 400 naming them where
the provider cannot give them. (/v1/responses: test_responses_logprobs.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from llmrelay.app import create_app
from tests.support.clients import Relay, local_relay
from tests.support.fake_openai import FakeOpenAI, Script, fake_alternatives, fake_logprob
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import serve_relay

ASK = [{"role": "user", "content": "Say hello."}]
DELTAS = ("Hel", "lo", " there", "!")


@pytest.fixture(scope="module")
def local() -> Iterator[Relay]:
    with local_relay(max_output_tokens=16) as relay:
        yield relay


@pytest.fixture(scope="module")
def local_sdk(local: Relay) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=local.v1, api_key="x", max_retries=0) as sdk:
        yield sdk


def _check_alternatives(token: openai.types.chat.ChatCompletionTokenLogprob, asked: int) -> None:
    assert token.logprob <= 0
    assert len(token.top_logprobs) == asked
    values = [top.logprob for top in token.top_logprobs]
    assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
    # The picked token is never likelier than the likeliest one.
    assert token.logprob <= values[0] + 1e-9


def _tokens_spell(tokens: list[openai.types.chat.ChatCompletionTokenLogprob], text: str) -> None:
    """The tokens joined are the text, and so are their bytes (a character split across
    tokens: its bytes in each, its text in the one that completes it)."""
    assert "".join(t.token for t in tokens) == text
    assert b"".join(bytes(t.bytes or ()) for t in tokens) == text.encode()


@pytest.mark.model
def test_the_embedded_model_streams_each_tokens_logprob_with_its_text(
    local: Relay, local_sdk: openai.OpenAI
) -> None:
    stream = local_sdk.chat.completions.create(
        model=local.model,
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=12,
        logprobs=True,
        top_logprobs=3,
        stream=True,
    )
    text, tokens = "", []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                # Each chunk's text is its tokens joined.
                assert choice.logprobs is not None and choice.logprobs.content
                assert "".join(t.token for t in choice.logprobs.content) == choice.delta.content
                text += choice.delta.content
                tokens += choice.logprobs.content
    assert text and tokens
    _tokens_spell(tokens, text)
    for token in tokens:
        _check_alternatives(token, 3)


@pytest.mark.model
def test_asking_for_logprobs_does_not_change_the_text_even_where_tokens_split_characters(
    local: Relay, local_sdk: openai.OpenAI
) -> None:
    """Greedy decoding, with and without logprobs: the same text, emoji and CJK included."""
    for prompt in ("Emoji list: 😀 😃 😄 😁 😆", "日本語の文章: 今日は"):
        plain = local_sdk.completions.create(model=local.model, prompt=prompt, max_tokens=10, temperature=0)
        scored = local_sdk.completions.create(
            model=local.model, prompt=prompt, max_tokens=10, temperature=0, logprobs=2
        )
        (choice,) = scored.choices
        assert choice.text == plain.choices[0].text and choice.text
        assert choice.logprobs is not None and choice.logprobs.tokens
        assert "".join(choice.logprobs.tokens) == choice.text
        assert all(value <= 0 for value in choice.logprobs.token_logprobs or [])
        assert all(1 <= len(top) <= 2 for top in choice.logprobs.top_logprobs or [])
        offsets = choice.logprobs.text_offset or []
        assert offsets[0] == 0 and offsets == sorted(offsets)
    whole = local_sdk.chat.completions.create(
        model=local.model,
        messages=[{"role": "user", "content": "日本語で挨拶してください。"}],
        max_tokens=12,
        temperature=0,
        logprobs=True,
    )
    content = whole.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and all(t.logprob <= 0 and t.top_logprobs == [] for t in content)
    _tokens_spell(content, whole.choices[0].message.content or "")


@pytest.mark.model
def test_a_stop_sequence_cuts_the_tokens_where_it_cuts_the_text(
    local_sdk: openai.OpenAI, local: Relay
) -> None:
    plain = local_sdk.completions.create(
        model=local.model, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0
    )
    stop = plain.choices[0].text.strip()[-2:]  # somewhere inside what it would have said
    scored = local_sdk.completions.create(
        model=local.model, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0, stop=[stop], logprobs=1
    )
    (choice,) = scored.choices
    assert stop not in choice.text and plain.choices[0].text.startswith(choice.text)
    assert "".join(choice.logprobs.tokens or []) == choice.text  # type: ignore[union-attr]
    # Without logprobs, none (and the answer does not pay for them).
    assert plain.choices[0].logprobs is None


@pytest.fixture(scope="module")
def compatible(fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[openai.OpenAI]:
    with (
        serve_relay("openai-compatible", fake_upstream[1], model="upstream-model") as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk,
    ):
        yield sdk


def test_an_openai_compatible_upstreams_logprobs_pass_through(
    fake: FakeOpenAI, compatible: openai.OpenAI
) -> None:
    fake.script = Script(deltas=DELTAS)
    stream = compatible.chat.completions.create(
        model="upstream-model", messages=ASK, logprobs=True, top_logprobs=2, stream=True
    )  # type: ignore[arg-type]
    tokens = [t for chunk in stream for c in chunk.choices if c.logprobs for t in c.logprobs.content or ()]
    assert [(t.token, t.logprob) for t in tokens] == [(d, fake_logprob(i)) for i, d in enumerate(DELTAS)]
    assert [[(a.token, a.logprob) for a in t.top_logprobs] for t in tokens] == [
        fake_alternatives(d, i, 2) for i, d in enumerate(DELTAS)
    ]
    asked = fake.requests[-1].body
    assert (asked["logprobs"], asked["top_logprobs"]) == (True, 2)

    whole = compatible.chat.completions.create(model="upstream-model", messages=ASK, logprobs=True)  # type: ignore[arg-type]
    content = whole.choices[0].logprobs.content  # type: ignore[union-attr]
    assert [t.token for t in content or ()] == list(DELTAS)
    assert "top_logprobs" not in fake.requests[-1].body  # none asked, none sent

    completion = compatible.completions.create(model="upstream-model", prompt="Hi", logprobs=1)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens == list(DELTAS)
    assert logprobs.token_logprobs == [fake_logprob(i) for i in range(len(DELTAS))]
    assert logprobs.top_logprobs == [dict(fake_alternatives(d, i, 1)) for i, d in enumerate(DELTAS)]
    assert fake.requests[-1].body["logprobs"] == 1


def test_a_responses_upstreams_logprobs_pass_through_to_chat_and_completions(
    fake: FakeOpenAI, fake_url: str
) -> None:
    """The `openai` provider asks its Responses upstream with `include` and `top_logprobs` and
    reads each text delta's tokens."""
    fake.script = Script(deltas=DELTAS)
    with (
        serve_relay("openai", fake_url, model="upstream-model") as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk,
    ):
        stream = sdk.chat.completions.create(
            model="upstream-model", messages=ASK, logprobs=True, top_logprobs=2, stream=True
        )  # type: ignore[arg-type]
        tokens = [
            t for chunk in stream for c in chunk.choices if c.logprobs for t in c.logprobs.content or ()
        ]
        assert [(t.token, t.logprob) for t in tokens] == [(d, fake_logprob(i)) for i, d in enumerate(DELTAS)]
        assert [[(a.token, a.logprob) for a in t.top_logprobs] for t in tokens] == [
            fake_alternatives(d, i, 2) for i, d in enumerate(DELTAS)
        ]
        # The events carry no bytes: each token's are its text's.
        assert [t.bytes for t in tokens] == [list(d.encode()) for d in DELTAS]
        asked = fake.requests[-1].body
        assert (asked["include"], asked["top_logprobs"]) == (["message.output_text.logprobs"], 2)

        completion = sdk.completions.create(model="upstream-model", prompt="Hi", logprobs=0)
        logprobs = completion.choices[0].logprobs
        assert logprobs is not None and logprobs.tokens == list(DELTAS)
        assert "top_logprobs" not in fake.requests[-1].body  # none asked, none sent


def test_a_provider_that_cannot_give_logprobs_refuses_them_naming_the_parameter() -> None:
    with (
        serve(create_app(make_settings())) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk,
    ):
        model = sdk.models.list().data[0].id
        with pytest.raises(openai.BadRequestError) as raised:
            sdk.chat.completions.create(model=model, messages=ASK, logprobs=True)  # type: ignore[arg-type]
        assert raised.value.param == "logprobs" and "scripted" in raised.value.message
        with pytest.raises(openai.BadRequestError) as raised:
            sdk.completions.create(model=model, prompt="Hi", logprobs=0)
        assert raised.value.param == "logprobs"
