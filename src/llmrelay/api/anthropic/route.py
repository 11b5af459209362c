"""POST /v1/messages and POST /v1/messages/count_tokens: Anthropic's Messages API, on every
model this server serves (the embedded one, OpenAI, OpenAI-compatible servers, Anthropic).

A thin route on the answer pipeline: the request is checked and translated (`translate`), the
generation starts with its identity (usage and metrics observe it), not resumable (nobody
resumes a Messages stream: when its client leaves, the upstream generation stops at once), and
the answer goes out through `MessagesRenderer`, as Anthropic sends it.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request, Response

from llmrelay import quota
from llmrelay.accounting import prompt_tokens
from llmrelay.api.anthropic.errors import AnthropicError, from_failure
from llmrelay.api.anthropic.render import MessagesRenderer
from llmrelay.api.anthropic.schema import CountTokensRequest, MessagesRequest
from llmrelay.api.anthropic.translate import (
    counted_request,
    generation_request,
    prompt_messages,
    unsupported,
)
from llmrelay.api.deps import CallerDep, ModelsDep, PipelineDep, SettingsDep
from llmrelay.models import ModelRegistry
from llmrelay.providers.base import PromptCounter, Provider, ProviderError
from llmrelay.streams import Failure, Identity

ROUTE = "/v1/messages"
router = APIRouter(prefix="/v1", tags=["anthropic"])

JSON_OR_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/event-stream": {}},
        "description": "The message; with stream=true, Server-Sent Events as Anthropic sends them.",
    }
}


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def provider_for(models: ModelRegistry, name: str) -> Provider:
    provider = models.get(name)
    if provider is None:
        raise AnthropicError(404, f"model: {name} (this server has: {', '.join(models.names())})")
    return provider


@router.post("/messages", summary="Anthropic's Messages API, streamed or not", responses=JSON_OR_SSE)
async def create_message(
    body: MessagesRequest,
    request: Request,
    models: ModelsDep,
    pipeline: PipelineDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> Response:
    provider = provider_for(models, body.model)
    problem = unsupported(body, provider, body.model)
    if problem is not None:
        raise problem
    messages = prompt_messages(body, settings.max_message_chars, sees_images=provider.info.sees_images)
    asked = generation_request(body, messages)
    message_id = new_message_id()
    # The caller's limits (a 429 in Anthropic's shape) before anything starts.
    permit = await pipeline.admit(caller, provider, asked)
    generation = pipeline.start(
        provider,
        asked,
        Identity(route=ROUTE, model=body.model, key_id=caller.key_id, owner=caller.owner),
        resumable=False,
        generation_id=message_id,
        meta={"route": ROUTE, "model": body.model},
        permit=permit,
        label=caller.label,
    )
    renderer = MessagesRenderer(message_id, body.model, prompt_tokens=lambda: prompt_tokens(provider, asked))
    return await pipeline.answer(request, generation, renderer, stream=bool(body.stream))


@router.post("/messages/count_tokens", summary="How many input tokens a Messages request takes")
async def count_tokens(
    body: CountTokensRequest,
    models: ModelsDep,
    settings: SettingsDep,
    pipeline: PipelineDep,
    caller: CallerDep,
) -> dict[str, int]:
    """The count of whoever can count the whole prompt (`PromptCounter`): an Anthropic upstream
    asks Anthropic's own count_tokens; the embedded model counts with its tokenizer over its
    chat template. Other providers' counts are estimates (OpenAI's: about four characters a
    token; they report exact usage with each answer).

    A count that asks the upstream or runs the tokenizer is a request like any other for the
    caller's limits (requests per minute, answers at once; a 429 in Anthropic's shape), with no
    tokens reserved or charged: it generates nothing. An estimate costs nothing and is free."""
    provider = provider_for(models, body.model)
    problem = unsupported(body, provider, body.model)
    if problem is not None:
        raise problem
    messages = prompt_messages(body, settings.max_message_chars, sees_images=provider.info.sees_images)
    prompt = counted_request(body, messages)
    if not isinstance(provider, PromptCounter):
        return {"input_tokens": prompt_tokens(provider, prompt)}
    permit = await quota.admit_input(pipeline.limiter, caller, lambda: 0)
    try:
        return {"input_tokens": await provider.count_prompt(prompt)}
    except ProviderError as exc:
        raise from_failure(Failure(exc.message, exc.status, exc.kind)) from None
    finally:
        if permit is not None:
            await permit.settle(0, 0)
