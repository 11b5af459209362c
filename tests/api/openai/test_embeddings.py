"""`POST /v1/embeddings` through the official `openai` SDK (which asks for base64 unless told
`encoding_format="float"`, and decodes it): the scripted model, a model that cannot embed, usage
per key, and the wire-level stand-in upstream behind the `openai-compatible` and `openai`
backends. The embedded model's own vectors are in tests/providers/test_local_embeddings.py."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import sqlite3
import struct
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.limiter import InProcessLimiter
from llmrelay.models import ModelRegistry
from llmrelay.providers.base import GenerationRequest, ProviderEvent, ProviderInfo
from llmrelay.providers.scripted import SCRIPTED_DIMENSIONS, ScriptedProvider, hashed_vector
from llmrelay.store import KeyLimits, Store
from tests.support.fake_openai import FakeOpenAI, fake_vector
from tests.support.fake_openai import Script as FakeScript
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import KEY, serve_relay

TEXTS = ["the cat sat", "on the mat", "the cat sat"]


class ChatOnly:
    """A provider with no `embed`: what /v1/embeddings says of a model that cannot embed."""

    def __init__(self) -> None:
        self._inner = ScriptedProvider.replying("hi")
        self.info = ProviderInfo(name="chat-only", model="chat-only")

    def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        return self._inner.stream(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    models = ModelRegistry({"scripted": ScriptedProvider.replying("hi"), "chat-only": ChatOnly()})
    with serve(create_app(make_settings(), models=models)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def as_float32(vector: list[float]) -> list[float]:
    """What a vector is after a trip through little-endian float32 (base64's encoding)."""
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def decode(encoded: object) -> list[float]:
    """A base64 embedding as OpenAI encodes it: little-endian float32."""
    assert isinstance(encoded, str)
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_several_inputs_in_one_call_base64_by_default(client: openai.OpenAI) -> None:
    # The SDK asks for base64 here and decodes it: a wrong byte order or width would not survive.
    result = client.embeddings.create(model="scripted", input=TEXTS)
    assert result.object == "list" and result.model == "scripted"
    assert [item.index for item in result.data] == [0, 1, 2]
    assert all(item.object == "embedding" for item in result.data)
    vectors = [item.embedding for item in result.data]
    assert [len(v) for v in vectors] == [SCRIPTED_DIMENSIONS] * 3
    assert vectors == [as_float32(hashed_vector(text, SCRIPTED_DIMENSIONS)) for text in TEXTS]
    # The same text, the same vector; another text, another.
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    assert math.isclose(math.sqrt(sum(x * x for x in vectors[0])), 1.0, rel_tol=1e-5)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (9, 9)


def test_float_and_base64_give_the_same_vectors(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="scripted", input=TEXTS, encoding_format="float")
    # Asked for explicitly, base64 comes back as the string the server sent.
    packed = client.embeddings.create(model="scripted", input=TEXTS, encoding_format="base64")
    assert [item.embedding for item in floats.data] == [
        hashed_vector(text, SCRIPTED_DIMENSIONS) for text in TEXTS
    ]
    assert [as_float32(item.embedding) for item in floats.data] == [
        decode(item.embedding) for item in packed.data
    ]


def test_the_response_is_openais_shape_exactly(url: str) -> None:
    body = httpx.post(f"{url}/v1/embeddings", json={"model": "scripted", "input": "one text"}).json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    (item,) = body["data"]
    assert set(item) == {"object", "index", "embedding"} and item["index"] == 0
    assert item["embedding"] == hashed_vector("one text", SCRIPTED_DIMENSIONS)
    raw = httpx.post(
        f"{url}/v1/embeddings", json={"model": "scripted", "input": ["one text"], "encoding_format": "base64"}
    ).json()
    assert decode(raw["data"][0]["embedding"]) == as_float32(item["embedding"])


def test_dimensions_equal_to_the_models_own_and_user_are_accepted(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="scripted", input="x", dimensions=SCRIPTED_DIMENSIONS, user="u1")
    assert len(result.data[0].embedding) == SCRIPTED_DIMENSIONS


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"dimensions": 8}, "dimensions"),
        ({"input": [[1, 2, 3]]}, "input"),
        ({"input": [1, 2, 3]}, "input"),
        ({"input": []}, "input"),
        ({"input": ""}, "input"),
        ({"input": ["fine", ""]}, "input[1]"),
        ({"input": ["x"] * 2049}, "input"),
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"model": "chat-only"}, "model"),
        ({"extra_body": {"truncate": True}}, "truncate"),
    ],
)
def test_what_cannot_be_honoured_is_a_400_naming_it(
    client: openai.OpenAI, params: dict[str, Any], param: str
) -> None:
    arguments: dict[str, Any] = {"model": "scripted", "input": "hello", **params}
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(**arguments)
    assert caught.value.param == param, caught.value.message
    assert param.split("[")[0] in caught.value.message


def test_a_model_that_cannot_embed_says_so(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="cannot embed"):
        client.embeddings.create(model="chat-only", input="hello")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="gpt-nope", input="hello")


def test_an_input_over_the_message_limit_is_refused(url: str) -> None:
    response = httpx.post(f"{url}/v1/embeddings", json={"model": "scripted", "input": ["ok", "x" * 40_000]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input[1]"
    assert response.json()["error"]["code"] == "string_above_max_length"


def test_the_overhead_header_is_there(url: str) -> None:
    response = httpx.post(f"{url}/v1/embeddings", json={"model": "scripted", "input": "x"})
    assert float(response.headers["x-llmrelay-overhead-ms"]) >= 0


async def test_usage_is_counted_per_key(tmp_path: Path) -> None:
    database = tmp_path / "llmrelay.db"
    database_url = f"sqlite+aiosqlite:///{database}"
    store = await Store.open(database_url, recover_interrupted=False)
    try:
        alice, alice_key = await store.create_api_key("alice")
        settings = make_settings(database_url=database_url)
        with serve(create_app(settings, provider=ScriptedProvider.replying("one two three"))) as url:
            async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=alice_key, max_retries=0) as client:
                first = await client.embeddings.create(model="scripted", input=TEXTS)
                await client.embeddings.create(model="scripted", input="four words in here")
                with pytest.raises(openai.BadRequestError):
                    await client.embeddings.create(model="scripted", input="x", dimensions=3)
                completion = await client.completions.create(model="scripted", prompt="go")
        # The server has stopped: every usage row is written.
        totals = {row["name"]: row for row in await store.usage_by_key()}
    finally:
        await store.close()
    assert first.usage.prompt_tokens == 9
    assert completion.usage is not None
    assert totals["alice"]["requests"] == 3  # the refused call spent nothing
    assert totals["alice"]["input_tokens"] == 9 + 4 + completion.usage.prompt_tokens
    assert totals["alice"]["output_tokens"] == completion.usage.completion_tokens
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT api_key_id, route, model, input_tokens, output_tokens FROM usage ORDER BY id"
        )
        assert list(rows) == [
            (alice.id, "/v1/embeddings", "scripted", 9, 0),
            (alice.id, "/v1/embeddings", "scripted", 4, 0),
            (alice.id, "/v1/completions", "scripted", 1, 3),
        ]


# -- through an upstream -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["openai-compatible", "openai"])
def upstream(
    request: pytest.FixtureRequest, fake_upstream: tuple[FakeOpenAI, str]
) -> Iterator[openai.OpenAI]:
    with (
        serve_relay(request.param, fake_upstream[1], model="text-embedding-3-small") as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk,
    ):
        yield sdk


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_upstream_embeddings_pass_through(
    fake: FakeOpenAI, upstream: openai.OpenAI, encoding_format: str | None
) -> None:
    # None: the SDK's default (it asks llmrelay for base64 and decodes it itself).
    chosen: dict[str, Any] = {"encoding_format": encoding_format} if encoding_format else {}
    result = upstream.embeddings.create(
        model="text-embedding-3-small", input=["alpha beta", "gamma"], dimensions=4, **chosen
    )
    expected = [fake_vector(json.dumps(text), 4) for text in ("alpha beta", "gamma")]
    got = [decode(item.embedding) if encoding_format == "base64" else item.embedding for item in result.data]
    assert got == expected
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)
    (sent,) = fake.requests
    assert sent.path == "/v1/embeddings"
    # llmrelay asks its upstream for floats, and encodes them itself the way its client asked.
    assert sent.body == {
        "model": "text-embedding-3-small",
        "input": ["alpha beta", "gamma"],
        "encoding_format": "float",
        "dimensions": 4,
    }
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_token_arrays_go_to_an_upstream_as_they_are(fake: FakeOpenAI, upstream: openai.OpenAI) -> None:
    result = upstream.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4]])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert fake.requests[-1].body["input"] == [[1, 2, 3], [4]]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, openai.BadRequestError), (429, openai.RateLimitError), (401, openai.InternalServerError)],
)
def test_upstream_failures_reach_the_client_without_the_key(
    fake: FakeOpenAI, upstream: openai.OpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    fake.script = FakeScript(status=status)
    with pytest.raises(error) as caught:
        upstream.embeddings.create(model="text-embedding-3-small", input="x")
    assert KEY not in caught.value.message and KEY not in json.dumps(caught.value.body)
    if status == 400:
        # The upstream's own reason is passed on.
        assert "temperature" in caught.value.message


# -- limits per key ------------------------------------------------------------------------------


def test_embeddings_are_held_to_the_keys_limits_and_spend_its_budget(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'llmrelay.db'}"

    async def make_key() -> str:
        store = await Store.open(database_url)
        try:
            return (await store.create_api_key("small", limits=KeyLimits(budget_tokens=5)))[1]
        finally:
            await store.close()

    key = asyncio.run(make_key())
    settings = make_settings(database_url=database_url)
    app = create_app(
        settings,
        provider=ScriptedProvider.replying("hi"),
        limiter=InProcessLimiter(settings.default_limits(), window_seconds=1),
    )
    with serve(app) as url, openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
        # Under the budget when it starts: answered, and its 9 tokens spent.
        assert client.embeddings.create(model="scripted", input=TEXTS).usage.prompt_tokens == 9
        with pytest.raises(openai.RateLimitError) as caught:
            client.embeddings.create(model="scripted", input="more")
        assert "budget" in caught.value.message
