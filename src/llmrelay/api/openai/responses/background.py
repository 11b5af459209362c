"""Reading a response by id: `GET /v1/responses/{id}` (whole, or its event stream from any
sequence number) and `POST /v1/responses/{id}/cancel`.

A running response (`background: true`, or any response while its answer runs) is found among
the generations this process holds, or (with LLMRELAY_REDIS_URL) any process runs: its events
are rendered again from the start with the shape it was created with (kept in the generation's
meta, which travels with its log), and those up to `starting_after` left out, so a reconnecting
client gets exactly the events it missed, numbered as the first time, on whichever process it
reaches. Cancel goes to the owning process. A finished response is read from the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from llmrelay.api.deps import CallerDep, PipelineDep, StoreDep, StreamsDep
from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.responses.kept import answer_calls, answer_logprobs, answer_refusal, kept_response
from llmrelay.api.openai.responses.render import EventRenderer
from llmrelay.api.openai.responses.shape import body_of, shape_of
from llmrelay.auth import Caller
from llmrelay.store import Store
from llmrelay.streams import GenerationHandle, StreamRegistry
from llmrelay.tenancy import find_owned

# The generation's meta entry holding its response's shape (shape_json).
SHAPE = "response_shape"

router = APIRouter(prefix="/v1", tags=["openai"])


def _not_found(response_id: str) -> OpenAIError:
    return OpenAIError(
        404, f"No response found with id '{response_id}'.", param="response_id", code="not_found"
    )


async def _running(streams: StreamRegistry, caller: Caller, response_id: str) -> GenerationHandle | None:
    generation = await find_owned(streams, response_id, caller.owner)
    if generation is None or SHAPE not in generation.meta:
        return None
    return generation


async def _kept_body(store: Store, caller: Caller, response_id: str) -> dict[str, Any]:
    record = await kept_response(store, caller, response_id)
    if record is None:
        raise _not_found(response_id)
    return body_of(record, answer_calls(record), answer_refusal(record), answer_logprobs(record))


@router.get(
    "/responses/{response_id}",
    summary="A response: whole, or (stream=true) its events after starting_after",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}},
)
async def get_response(
    response_id: str,
    store: StoreDep,
    streams: StreamsDep,
    pipeline: PipelineDep,
    caller: CallerDep,
    stream: Annotated[bool, Query(description="Stream the response's events.")] = False,
    starting_after: Annotated[
        int | None, Query(ge=-1, description="Send the events after this sequence number.")
    ] = None,
) -> Response:
    if not stream:
        # The store says where it is, on any process: a background response is kept
        # `in_progress` from its start, and its end is stored before its log ends.
        return JSONResponse(await _kept_body(store, caller, response_id))
    generation = await _running(streams, caller, response_id)
    if generation is None:
        if await kept_response(store, caller, response_id) is None:
            raise _not_found(response_id)
        raise OpenAIError(
            400,
            "This response's events are no longer held; read it without stream=true.",
            param="stream",
        )
    renderer = EventRenderer(
        shape_of(generation.meta[SHAPE]), starting_after=-1 if starting_after is None else starting_after
    )
    return pipeline.attach(generation, 0, renderer)


@router.post("/responses/{response_id}/cancel", summary="Stop a background response now")
async def cancel_response(
    response_id: str, store: StoreDep, streams: StreamsDep, caller: CallerDep
) -> dict[str, Any]:
    generation = await _running(streams, caller, response_id)
    if generation is not None and generation.cancel():
        await generation.wait_finished()
    return await _kept_body(store, caller, response_id)
