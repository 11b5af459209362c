"""Embeddings passed through to an upstream's `/embeddings`, for both OpenAI-SDK backends.

OpenAI and the compatible servers (vLLM, llama.cpp's server, Ollama…) share this endpoint's
shape, so one call serves both. The vectors are asked for as floats: llmrelay encodes them for
its own client the way that client asked (`encoding_format`). `dimensions` and token arrays
go through as given; an upstream that cannot honour them refuses, and its 400 reaches the
client (`upstream_errors.translate`).
"""

from __future__ import annotations

from typing import Any

import openai

from llmrelay.providers.base import EmbeddingRequest, Embeddings, ProviderError
from llmrelay.providers.openai_sdk.upstream_errors import translate


async def embed_upstream(
    client: openai.AsyncOpenAI, request: EmbeddingRequest, *, model: str, api_key: str
) -> Embeddings:
    params: dict[str, Any] = {
        "model": request.model or model,
        "input": list(request.inputs),
        "encoding_format": "float",
    }
    if request.dimensions is not None:
        params["dimensions"] = request.dimensions
    try:
        response = await client.embeddings.create(**params)
    except openai.OpenAIError as exc:
        raise translate(exc, api_key=api_key, streaming=False) from None
    data = sorted(response.data, key=lambda item: item.index)
    if len(data) != len(request.inputs):
        raise ProviderError(
            f"The upstream API returned {len(data)} embeddings for {len(request.inputs)} inputs."
        )
    usage = response.usage
    return Embeddings([item.embedding for item in data], usage.prompt_tokens if usage else 0)
