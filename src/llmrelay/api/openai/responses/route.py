"""`POST /v1/responses`: Responses, streamed or not, on the answer pipeline; kept responses
continue with `previous_response_id`.

A streamed response outlives a dropped connection for LLMRELAY_DETACH_GRACE_SECONDS (a
whole one stops when its client leaves). A background one runs to its end. Either is read,
resumed from a sequence number and cancelled by id (responses/background.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from llmrelay.api.deps import CallerDep, ModelsDep, PipelineDep, SettingsDep, StoreDep
from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.models import provider_for
from llmrelay.api.openai.params import JSON_OR_SSE, beyond_provider
from llmrelay.api.openai.responses.background import SHAPE
from llmrelay.api.openai.responses.kept import history_of, keep_started, kept_response, response_keeper
from llmrelay.api.openai.responses.render import EventRenderer
from llmrelay.api.openai.responses.schema import (
    ResponsesRequest,
    asks_logprobs,
    check_tool_results,
    function_tools,
    input_messages,
    logprobs_asked,
    response_format,
    tool_choice,
    unsupported_responses,
)
from llmrelay.api.openai.responses.shape import ResponseShape, new_response_id, shape_json
from llmrelay.providers.base import ChatMessage, GenerationRequest
from llmrelay.shared_redis import STOPPED
from llmrelay.streams import Identity

ROUTE = "/v1/responses"
# What a provider cannot do, named as this surface's request names it.
_PARAM_NAMES = {"logprobs": "include", "response_format": "text.format"}
router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/responses", summary="Responses, streamed or not", responses=JSON_OR_SSE)
async def create_response(
    body: ResponsesRequest,
    request: Request,
    models: ModelsDep,
    pipeline: PipelineDep,
    store: StoreDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> Response:
    provider = provider_for(models, body.model)
    problem = unsupported_responses(body)
    if problem is not None:
        raise problem
    own = input_messages(body, settings.max_message_chars, sees_images=provider.info.sees_images)
    earlier: list[ChatMessage] = []
    if body.previous_response_id:
        previous = await kept_response(store, caller, body.previous_response_id)
        if previous is None:
            raise OpenAIError(
                400,
                f"Previous response with id '{body.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        earlier = history_of(previous)
    history = [*earlier, *own]
    check_tool_results(history)
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
        tools=list(body.tools or []),
        tool_choice=body.tool_choice.model_dump()
        if isinstance(body.tool_choice, BaseModel)
        else (body.tool_choice or "auto"),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        text_format=body.text.format.model_dump(by_alias=True, exclude_none=True)
        if body.text and body.text.format
        else {"type": "text"},
        background=bool(body.background),
        shows_logprobs=asks_logprobs(body),
        top_logprobs=body.top_logprobs,
    )
    generation_request = GenerationRequest(
        messages=messages,
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        tools=tuple(function_tools(body)),
        tool_choice=tool_choice(body),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=response_format(body),
        logprobs=logprobs_asked(body),
    )
    problem = beyond_provider(provider, generation_request, _PARAM_NAMES)
    if problem is not None:
        raise problem
    permit = await pipeline.admit(caller, provider, generation_request)
    if shape.background:
        try:
            await keep_started(store, caller, shape, history)
        except BaseException:
            if permit is not None:  # never started: its slot is free again
                await permit.settle(0, 0)
            raise
    generation = pipeline.start(
        provider,
        generation_request,
        Identity(route=ROUTE, model=body.model, key_id=caller.key_id, owner=caller.owner),
        # A streamed response outlives a dropped connection for the grace period, as
        # /chat-stream does, so GET ?stream=true&starting_after=N can pick it up again.
        resumable=bool(body.stream),
        # A background response runs to its end whoever listens; it is read, resumed from
        # any sequence number, or cancelled by id (responses/background.py).
        detached=shape.background,
        on_end=response_keeper(store, caller, shape, history),
        generation_id=shape.id,
        meta={"route": ROUTE, "model": body.model, SHAPE: shape_json(shape)},
        permit=permit,
        label=caller.label,
    )
    if shape.background and not body.stream:
        # "queued" promises it can be read, resumed and cancelled from any process: not
        # before its log is where they look (with Redis down it is not, and it stopped).
        if not await generation.log.opened():
            result = await generation.wait_finished()
            return EventRenderer(shape).failure(result.failure or STOPPED)
        return JSONResponse(shape.body("queued"))
    return await pipeline.answer(request, generation, EventRenderer(shape), stream=bool(body.stream))
