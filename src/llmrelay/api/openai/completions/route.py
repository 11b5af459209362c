"""`POST /v1/completions`: legacy text completion, streamed or not, on the answer pipeline.

The prompt is continued as it is (`GenerationRequest.prompt`: no chat template), so usage,
metrics, cancel-on-disconnect and the overhead header are the pipeline's, as for Chat. Nobody
resumes a /v1 stream, so when its client leaves the generation stops at once.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from llmrelay.api.deps import CallerDep, ModelsDep, PipelineDep, SettingsDep
from llmrelay.api.openai.completions.render import CompletionRenderer
from llmrelay.api.openai.completions.schema import (
    DEFAULT_MAX_TOKENS,
    CompletionRequest,
    prompt_of,
    unsupported_completion,
)
from llmrelay.api.openai.models import provider_for
from llmrelay.api.openai.params import JSON_OR_SSE, beyond_provider
from llmrelay.providers.base import GenerationRequest
from llmrelay.streams import Identity

ROUTE = "/v1/completions"
router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/completions", summary="Legacy text completion, streamed or not", responses=JSON_OR_SSE)
async def completions(
    body: CompletionRequest,
    request: Request,
    models: ModelsDep,
    pipeline: PipelineDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> Response:
    provider = provider_for(models, body.model)
    problem = unsupported_completion(body)
    if problem is not None:
        raise problem
    prompt = prompt_of(body, settings.max_message_chars)
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    generation_request = GenerationRequest(
        messages=(),
        prompt=prompt,
        max_tokens=body.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(stops),
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        logprobs=body.logprobs,
    )
    problem = beyond_provider(provider, generation_request)
    if problem is not None:
        raise problem
    completion_id = f"cmpl-{secrets.token_hex(16)}"
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
    renderer = CompletionRenderer(
        completion_id,
        body.model,
        echo=prompt if body.echo else None,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        choices=n,
        logprobs=body.logprobs is not None,
    )
    return await pipeline.answer_choices(request, generations, renderer, stream=bool(body.stream))
