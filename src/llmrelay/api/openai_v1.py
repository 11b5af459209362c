"""The OpenAI API at /v1: models, chat completions and responses, streamed and not.

Every answer runs on the stream machinery (`relay.streams`) with no grace period: nobody
resumes a /v1 stream, so when its client leaves, the upstream generation stops at once.
A handler that waits (for a whole answer, or for a stream's first event) watches for the
client leaving too (`api.common`). Failures before a stream starts are HTTP statuses
with OpenAI's error body, so the SDKs raise their matching exceptions.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from llmrelay import sse
from llmrelay.api import common
from llmrelay.api.openai_chat import ChunkRenderer, completion
from llmrelay.api.openai_errors import OpenAIError, from_failure
from llmrelay.api.openai_responses import (
    EventRenderer,
    ResponseShape,
    body_of,
    history_json,
    history_of,
    new_response_id,
)
from llmrelay.api.openai_schemas import (
    ChatCompletionRequest,
    ResponsesRequest,
    chat_messages,
    input_messages,
    unsupported_chat,
    unsupported_responses,
)
from llmrelay.auth import Caller, CallerDep
from llmrelay.providers.base import ChatMessage, GenerationRequest, Provider
from llmrelay.relay import Relay, RelayDep
from llmrelay.store import ResponseRecord
from llmrelay.streams import Failure, Generation, GenerationResult, LogEvent, OnEnd
from llmrelay.usage import prompt_counter, token_counts, usage_recorder

router = APIRouter(prefix="/v1", tags=["openai"])

# /v1/models reports this as every model's `created`: when this process started serving.
_STARTED = int(time.time())

JSON_OR_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/event-stream": {}},
        "description": "The answer; with stream=true, Server-Sent Events as OpenAI sends them.",
    }
}


def provider_for(relay: Relay, name: str) -> Provider:
    provider = relay.models.get(name)
    if provider is None:
        raise OpenAIError(
            404,
            f"The model '{name}' does not exist or you do not have access to it "
            f"(this server has: {', '.join(relay.models.names())}).",
            param="model",
            code="model_not_found",
        )
    return provider


async def whole_answer(request: Request, generation: Generation) -> GenerationResult:
    """Wait for the end of a non-streamed answer, unless the client leaves first."""
    result = await common.final_result(request, generation)
    if result.failure is not None:
        raise from_failure(result.failure)
    return result


async def opened_stream(request: Request, generation: Generation) -> LogEvent:
    """Open the upstream (up to its first event) while a failure can still be a status."""
    first = await common.first_event(request, generation)
    if isinstance(first, Failure):
        raise from_failure(first)
    return first


# -- models ------------------------------------------------------------------------------------


def model_body(name: str, provider: Provider) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _STARTED, "owned_by": provider.info.name}


@router.get("/models", summary="The models a client may name in `model`")
async def list_models(relay: RelayDep) -> dict[str, Any]:
    return {"object": "list", "data": [model_body(name, p) for name, p in relay.models.items()]}


@router.get("/models/{model}", summary="One model")
async def get_model(model: str, relay: RelayDep) -> dict[str, Any]:
    return model_body(model, provider_for(relay, model))


# -- chat completions --------------------------------------------------------------------------


@router.post("/chat/completions", summary="Chat Completions, streamed or not", responses=JSON_OR_SSE)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, relay: RelayDep, caller: CallerDep
) -> Response:
    provider = provider_for(relay, body.model)
    problem = unsupported_chat(body)
    if problem is not None:
        raise problem
    messages = chat_messages(body, relay.settings.max_message_chars)
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    generation_request = GenerationRequest(
        messages=messages,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(stops),
    )
    completion_id = f"chatcmpl-{secrets.token_hex(16)}"
    generation = relay.streams.start(
        provider,
        generation_request,
        grace_seconds=0,
        on_end=usage_recorder(
            relay.usage,
            api_key_id=caller.key_id,
            route="/v1/chat/completions",
            model=body.model,
            provider=provider,
            messages=messages,
        ),
        generation_id=completion_id,
        meta={"route": "/v1/chat/completions", "model": body.model},
    )
    if not body.stream:
        result = await whole_answer(request, generation)
        tokens = token_counts(
            result.usage, lambda: prompt_counter(provider, messages), provider.count_tokens, result.text
        )
        created = int(time.time())
        return JSONResponse(
            completion(completion_id, body.model, created, result.text, result.finish_reason, tokens)
        )
    await opened_stream(request, generation)
    renderer = ChunkRenderer(
        completion_id=completion_id,
        model=body.model,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        prompt_tokens=lambda: prompt_counter(provider, messages),
        count_tokens=provider.count_tokens,
    )
    return sse.event_stream(sse.follow(generation, 0, renderer, first=renderer.first()))


# -- responses ---------------------------------------------------------------------------------


async def kept_response(relay: Relay, caller: Caller, response_id: str) -> ResponseRecord | None:
    """A kept response this caller may see: one made with another stored key is not theirs."""
    store = relay.store
    if store is None:
        return None
    record = await store.get_response(response_id)
    if record is None:
        return None
    # Only another stored key is refused; an LLMRELAY_API_KEYS key is the operator's.
    if record.api_key_id is not None and caller.key_id not in (None, record.api_key_id):
        return None
    return record


def response_keeper(
    relay: Relay, caller: Caller, shape: ResponseShape, history: list[ChatMessage], record_usage: OnEnd
) -> OnEnd:
    """At the end: keep the response (unless store=false or nobody got it) and record usage."""

    async def ended(generation: Generation, result: GenerationResult) -> None:
        store = relay.store
        if store is not None and shape.store and result.finish_reason != "cancelled":
            tokens = (result.usage.input_tokens, result.usage.output_tokens) if result.usage else (None, None)
            status = shape.finished(result.text, result.finish_reason, (0, 0), result.failure)["status"]
            await store.save_response(
                ResponseRecord(
                    id=shape.id,
                    previous_response_id=shape.previous_response_id,
                    model=shape.model,
                    input_json=history_json(history),
                    output_text=result.text,
                    status=status,
                    input_tokens=tokens[0],
                    output_tokens=tokens[1],
                    api_key_id=caller.key_id,
                )
            )
        await record_usage(generation, result)

    return ended


@router.post("/responses", summary="Responses, streamed or not", responses=JSON_OR_SSE)
async def create_response(
    body: ResponsesRequest, request: Request, relay: RelayDep, caller: CallerDep
) -> Response:
    provider = provider_for(relay, body.model)
    problem = unsupported_responses(body)
    if problem is not None:
        raise problem
    own = input_messages(body, relay.settings.max_message_chars)
    earlier: list[ChatMessage] = []
    if body.previous_response_id:
        previous = await kept_response(relay, caller, body.previous_response_id)
        if previous is None:
            raise OpenAIError(
                400,
                f"Previous response with id '{body.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        earlier = history_of(previous)
    history = [*earlier, *own]
    # Instructions apply to this response only; OpenAI does not carry them to the next.
    messages = [ChatMessage("system", body.instructions), *history] if body.instructions else history
    shape = ResponseShape(
        id=new_response_id(),
        model=body.model,
        previous_response_id=body.previous_response_id,
        instructions=body.instructions,
        max_output_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        store=body.store is not False,
        metadata=body.metadata or {},
    )
    usage = usage_recorder(
        relay.usage,
        api_key_id=caller.key_id,
        route="/v1/responses",
        model=body.model,
        provider=provider,
        messages=messages,
    )
    generation = relay.streams.start(
        provider,
        GenerationRequest(
            messages=messages,
            max_tokens=body.max_output_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
        ),
        grace_seconds=0,
        on_end=response_keeper(relay, caller, shape, history, usage),
        generation_id=shape.id,
        meta={"route": "/v1/responses", "model": body.model},
    )
    if not body.stream:
        result = await whole_answer(request, generation)
        tokens = token_counts(
            result.usage, lambda: prompt_counter(provider, messages), provider.count_tokens, result.text
        )
        return JSONResponse(shape.finished(result.text, result.finish_reason, tokens, None))
    await opened_stream(request, generation)
    renderer = EventRenderer(
        shape=shape,
        prompt_tokens=lambda: prompt_counter(provider, messages),
        count_tokens=provider.count_tokens,
    )
    return sse.event_stream(sse.follow(generation, 0, renderer, first=renderer.first()))


@router.get("/responses/{response_id}", summary="A kept response")
async def get_response(response_id: str, relay: RelayDep, caller: CallerDep) -> dict[str, Any]:
    record = await kept_response(relay, caller, response_id)
    if record is None:
        raise OpenAIError(
            404, f"No response found with id '{response_id}'.", param="response_id", code="not_found"
        )
    return body_of(record)
