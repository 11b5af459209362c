"""The tutorial's contract: `/chat-complete` and `/chat-stream`, GET as it had them, POST twins.

`/chat-stream` runs on the stream machinery: its event ids name the generation, so a browser's
automatic reconnect (with `Last-Event-ID`) resumes the same answer instead of asking again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from llmrelay import sse
from llmrelay.api.common import clean_message, final_result, first_event, raise_if_failed
from llmrelay.auth import current_caller
from llmrelay.providers.base import ChatMessage, GenerationRequest
from llmrelay.relay import Relay, RelayDep
from llmrelay.streams import Generation
from llmrelay.usage import usage_recorder

router = APIRouter(tags=["tutorial"])


class MessageIn(BaseModel):
    message: str = Field(description="The prompt.", examples=["tell me a joke"])


class CompleteOut(BaseModel):
    data: str = Field(description="The whole answer.")


class StreamCancelOut(BaseModel):
    generation_id: str
    cancelled: bool = Field(description="False when the answer had already finished.")


MessageQuery = Annotated[str | None, Query(description="The prompt.", examples=["tell me a joke"])]
LastEventId = Annotated[str | None, Header(include_in_schema=False)]

STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/event-stream": {}}, "description": "start, one event per delta, end."},
    204: {"description": "Last-Event-ID names an answer this server no longer has."},
}


def _start(relay: Relay, request: Request, message: str, grace_seconds: float) -> Generation:
    messages = [ChatMessage("user", message)]
    usage = usage_recorder(
        relay.usage,
        api_key_id=current_caller(request).key_id,
        route=request.url.path,
        model=relay.provider.info.model,
        provider=relay.provider,
        messages=messages,
    )
    return relay.streams.start(
        relay.provider, GenerationRequest(messages=messages), grace_seconds=grace_seconds, on_end=usage
    )


async def _complete(request: Request, relay: Relay, message: str | None) -> CompleteOut | Response:
    text = clean_message(message, relay.settings)
    # Nobody can resume a non-streamed answer: it stops as soon as its client leaves.
    generation = _start(relay, request, text, grace_seconds=0)
    result = await final_result(request, generation)
    if result.failure is not None:
        raise HTTPException(result.failure.status, result.failure.message)
    return CompleteOut(data=result.text)


async def _stream(request: Request, relay: Relay, message: str | None, last_event_id: str | None) -> Response:
    resume = sse.parse_event_id(last_event_id)
    if resume is not None:
        generation_id, seq = resume
        found = relay.streams.get(generation_id)
        if found is None:
            # 204 tells an EventSource to stop reconnecting: that answer is gone.
            return Response(status_code=204)
        return sse.event_stream(sse.follow(found, seq, sse.render_tutorial))
    text = clean_message(message, relay.settings)
    generation = _start(relay, request, text, grace_seconds=relay.settings.detach_grace_seconds)
    # Open the upstream (up to its first event) while a failure can still be a status.
    first = await first_event(request, generation)
    raise_if_failed(first)
    start = sse.tutorial_start(generation.id)
    return sse.event_stream(sse.follow(generation, 0, sse.render_tutorial, first=start))


@router.get("/chat-complete", response_model=CompleteOut, summary="The whole answer at once")
async def chat_complete(
    request: Request, relay: RelayDep, message: MessageQuery = None
) -> CompleteOut | Response:
    return await _complete(request, relay, message)


@router.post("/chat-complete", response_model=CompleteOut, summary="The whole answer at once (long prompts)")
async def chat_complete_post(
    request: Request, relay: RelayDep, body: Annotated[MessageIn, Body()]
) -> CompleteOut | Response:
    return await _complete(request, relay, body.message)


@router.get("/chat-stream", summary="The answer as Server-Sent Events", responses=STREAM_RESPONSES)
async def chat_stream(
    request: Request, relay: RelayDep, message: MessageQuery = None, last_event_id: LastEventId = None
) -> Response:
    return await _stream(request, relay, message, last_event_id)


@router.post(
    "/chat-stream", summary="The answer as Server-Sent Events (long prompts)", responses=STREAM_RESPONSES
)
async def chat_stream_post(
    request: Request, relay: RelayDep, body: Annotated[MessageIn, Body()], last_event_id: LastEventId = None
) -> Response:
    return await _stream(request, relay, body.message, last_event_id)


@router.post(
    "/chat-stream/{generation_id}/cancel",
    response_model=StreamCancelOut,
    summary="Stop a streamed answer now",
    responses={404: {"description": "No such answer is held."}},
)
async def chat_stream_cancel(relay: RelayDep, generation_id: str) -> StreamCancelOut:
    """Closing the connection stops an answer only after the detach grace period (the client
    may be reconnecting); a Stop button means now. The id is the part of an event id before
    the last dot."""
    generation = relay.streams.get(generation_id)
    if generation is None:
        raise HTTPException(404, f"No streamed answer with id {generation_id!r}.")
    cancelled = generation.cancel()
    await generation.wait_finished()
    return StreamCancelOut(generation_id=generation_id, cancelled=cancelled)
