"""`POST /v1/chat/completions`: Chat Completions, streamed or not, on the answer pipeline.

Nobody resumes a /v1 stream, so when its client leaves the upstream generation stops at once.
`n` answers are n generations of the same request (pipeline.start_choices), shown together.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from llmrelay.api.deps import CallerDep, ModelsDep, PipelineDep, SettingsDep
from llmrelay.api.openai.chat_completions.render import ChunkRenderer
from llmrelay.api.openai.chat_completions.schema import (
    ChatCompletionRequest,
    chat_messages,
    unsupported_chat,
)
from llmrelay.api.openai.chat_completions.schema import generation_request as generation_request_of
from llmrelay.api.openai.models import provider_for
from llmrelay.api.openai.params import JSON_OR_SSE, beyond_provider
from llmrelay.streams import Identity

ROUTE = "/v1/chat/completions"
router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/chat/completions", summary="Chat Completions, streamed or not", responses=JSON_OR_SSE)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    models: ModelsDep,
    pipeline: PipelineDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> Response:
    provider = provider_for(models, body.model)
    problem = unsupported_chat(body)
    if problem is not None:
        raise problem
    messages = chat_messages(body, settings.max_message_chars, sees_images=provider.info.sees_images)
    generation_request = generation_request_of(body, messages)
    problem = beyond_provider(provider, generation_request)
    if problem is not None:
        raise problem
    completion_id = f"chatcmpl-{secrets.token_hex(16)}"
    n = body.n or 1
    permit = await pipeline.admit(caller, provider, generation_request, copies=n)
    generations = pipeline.start_choices(
        provider,
        generation_request,
        Identity(route=ROUTE, model=body.model, key_id=caller.key_id, owner=caller.owner),
        n=n,
        generation_id=completion_id,
        meta={"route": ROUTE, "model": body.model},
        permit=permit,
        label=caller.label,
    )
    renderer = ChunkRenderer(
        completion_id,
        body.model,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        choices=n,
        logprobs=generation_request.logprobs is not None,
    )
    return await pipeline.answer_choices(request, generations, renderer, stream=bool(body.stream))
