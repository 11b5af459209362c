"""A client may ask for fewer tokens than the configured ceiling, never for more."""

from __future__ import annotations

import pytest

from llmrelay.providers.openai_sdk.chat import ChatCompletionsProvider
from llmrelay.providers.openai_sdk.client import OpenAISDKProvider
from llmrelay.providers.openai_sdk.responses import ResponsesProvider
from tests.support.fake_openai import FakeOpenAI
from tests.support.upstream import KEY, ask, collect


@pytest.mark.parametrize(
    "backend, path, field",
    [
        (ResponsesProvider, "/v1/responses", "max_output_tokens"),
        (ChatCompletionsProvider, "/v1/chat/completions", "max_tokens"),
    ],
)
@pytest.mark.parametrize("asked, sent", [(None, 64), (10, 10), (10_000, 64)])
async def test_output_limit_is_capped(
    fake: FakeOpenAI,
    fake_url: str,
    backend: type[OpenAISDKProvider],
    path: str,
    field: str,
    asked: int | None,
    sent: int,
) -> None:
    provider = backend(
        api_key=KEY, base_url=f"{fake_url}/v1", model="m", timeout=10, max_retries=0, max_tokens=64
    )
    try:
        await collect(provider.stream(ask(max_tokens=asked)))
    finally:
        await provider.aclose()
    [received] = [r for r in fake.requests if r.path == path]
    assert received.body[field] == sent
