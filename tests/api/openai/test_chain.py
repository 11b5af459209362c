"""A chain: llmrelay A (backend `openai`) whose OPENAI_BASE_URL is llmrelay B's /v1, B serving the
real embedded model. What B generates arrives at A's client whole and in order."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.local import default_model_path
from tests.support.servers import serve
from tests.support.settings import make_settings

pytestmark = pytest.mark.model

QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]
# Greedy decoding: the same prompt gives the same tokens, so A's text can be compared with B's.
GREEDY = {"temperature": 0.0, "max_tokens": 40}


@pytest.fixture(scope="module")
def model_name() -> str:
    return default_model_path().stem


@pytest.fixture(scope="module")
def chain(model_name: str) -> Iterator[tuple[str, str]]:
    with serve(create_app(make_settings(provider="local"))) as b_url:
        a_settings = make_settings(
            provider="openai",
            openai_api_key="sk-for-b",
            openai_base_url=f"{b_url}/v1",
            model=model_name,
            upstream_max_retries=0,
        )
        with serve(create_app(a_settings)) as a_url:
            yield a_url, b_url


def test_chat_through_the_chain_arrives_whole_and_in_order(chain: tuple[str, str], model_name: str) -> None:
    a_url, b_url = chain
    with (
        openai.OpenAI(base_url=f"{a_url}/v1", api_key="x", max_retries=0) as a,
        openai.OpenAI(base_url=f"{b_url}/v1", api_key="x", max_retries=0) as b,
    ):
        assert [m.id for m in a.models.list()] == [model_name]
        stream = a.chat.completions.create(
            model=model_name, messages=QUESTION, stream=True, stream_options={"include_usage": True}, **GREEDY
        )
        chunks = list(stream)
        deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
        direct = b.chat.completions.create(model=model_name, messages=QUESTION, **GREEDY)
    expected = direct.choices[0].message.content
    assert expected and expected.strip()
    assert "".join(deltas) == expected
    assert len(deltas) > 3  # streamed as it was generated, not in one piece
    usage = chunks[-1].usage
    assert usage is not None and direct.usage is not None
    assert usage.completion_tokens == direct.usage.completion_tokens


def test_responses_through_the_chain(chain: tuple[str, str], model_name: str) -> None:
    a_url, b_url = chain
    with (
        openai.OpenAI(base_url=f"{a_url}/v1", api_key="x", max_retries=0) as a,
        openai.OpenAI(base_url=f"{b_url}/v1", api_key="x", max_retries=0) as b,
    ):
        events = list(
            a.responses.create(
                model=model_name, input=QUESTION, stream=True, temperature=0, max_output_tokens=40
            )  # type: ignore[arg-type]
        )
        direct = b.responses.create(model=model_name, input=QUESTION, temperature=0, max_output_tokens=40)  # type: ignore[arg-type]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert "".join(deltas) == direct.output_text
    assert events[-1].response.output_text == direct.output_text
