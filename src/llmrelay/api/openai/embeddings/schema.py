"""The request body of /v1/embeddings, what of it llmrelay refuses, and the response body.

`input` is a string, a list of strings (several in one call), or token arrays (a list of
token ids, or a list of them) for a provider that takes them. The vectors go back as JSON
floats, or with `encoding_format: "base64"` as OpenAI sends them: the little-endian float32
bytes of each vector, base64-encoded (what the openai SDK asks for unless told otherwise).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.params import Strict
from llmrelay.providers.base import Embeddings

# OpenAI's own limit on the inputs of one request.
MAX_INPUTS = 2048

Inputs = str | list[str] | list[int] | list[list[int]]


class EmbeddingRequestIn(Strict):
    model: str = Field(min_length=1)
    input: Inputs = Field(description="A text, a list of texts, or token arrays.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    # Accepted and ignored: it changes nothing about the vectors.
    user: str | None = None


def inputs_of(body: EmbeddingRequestIn, max_chars: int) -> list[str] | list[list[int]]:
    """The inputs as a list (texts, or token arrays), each checked; a 400 naming the bad one."""
    given = body.input
    if isinstance(given, str):
        items: list[Any] = [given]
    elif given and all(isinstance(item, int) for item in given):
        items = [given]  # one token array
    else:
        items = list(given)
    if not items:
        raise OpenAIError(400, "input: give at least one input.", param="input", code="invalid_value")
    if len(items) > MAX_INPUTS:
        raise OpenAIError(
            400, f"input: at most {MAX_INPUTS} inputs per request, not {len(items)}.", param="input"
        )
    for index, item in enumerate(items):
        where = "input" if isinstance(given, str) else f"input[{index}]"
        if not item:
            raise OpenAIError(400, f"{where} is empty; each input needs some text.", param=where)
        if isinstance(item, str) and len(item) > max_chars:
            raise OpenAIError(
                400,
                f"{where} is {len(item)} characters; the limit is {max_chars}.",
                param=where,
                code="string_above_max_length",
            )
    return items


def encode(vector: Sequence[float], encoding_format: Literal["float", "base64"]) -> list[float] | str:
    if encoding_format == "float":
        return list(vector)
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def response_body(
    model: str, embeddings: Embeddings, encoding_format: Literal["float", "base64"]
) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": index, "embedding": encode(vector, encoding_format)}
        for index, vector in enumerate(embeddings.vectors)
    ]
    usage = {"prompt_tokens": embeddings.prompt_tokens, "total_tokens": embeddings.prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}
