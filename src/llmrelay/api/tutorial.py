"""The tutorial's contract: `/chat-complete` and `/chat-stream`, GET as it had them, POST twins.

`/chat-stream` runs on the stream machinery: its event ids name the generation, so a browser's
automatic reconnect (with `Last-Event-ID`) resumes the same answer instead of asking again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from llmrelay.api.deps import CallerDep, DefaultModelDep, PipelineDep, SettingsDep, StreamsDep
from llmrelay.api.messages import clean_message
from llmrelay.auth import Caller
from llmrelay.pipeline import Pipeline
from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    Provider,
    RefusalDelta,
    TextDelta,
)
from llmrelay.settings import Settings
from llmrelay.streams import Failure, GenerationResult, Identity, LogEvent, StreamRegistry
from llmrelay.tenancy import find_owned
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer

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


class TutorialRenderer(Renderer):
    """The tutorial's format: `start` / `[START]`, unnamed events with raw text, then `end` /
    `[END]`; `{"data": answer}` when not streamed; `{"detail"}` and a status for a failure."""

    def __init__(self, generation_id: str) -> None:
        self.generation_id = generation_id

    def opening(self) -> bytes:
        eid = sse.event_id(self.generation_id, 0)
        return sse.encode("[START]", event="start", id=eid, retry=sse.RECONNECT_MILLISECONDS)

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        eid = sse.event_id(self.generation_id, seq)
        if isinstance(event, TextDelta | RefusalDelta):
            # A refusal is what the person reads in place of an answer; reasoning is not shown.
            return sse.encode(event.text, id=eid)
        if isinstance(event, Failure):
            return sse.encode(event.message, event="error", id=eid)
        if isinstance(event, Finished):
            return sse.encode("[END]", event="end", id=eid)
        return None  # usage is not part of the tutorial's stream

    def failure(self, failure: Failure) -> Response:
        return JSONResponse({"detail": failure.message}, status_code=failure.status)

    def whole(self, result: GenerationResult) -> Response:
        return JSONResponse(CompleteOut(data=result.said).model_dump())


async def _answer(
    request: Request,
    pipeline: Pipeline,
    provider: Provider,
    caller: Caller,
    message: str,
    *,
    stream: bool,
) -> Response:
    generation_request = GenerationRequest(messages=[ChatMessage("user", message)])
    permit = await pipeline.admit(caller, provider, generation_request)
    generation = pipeline.start(
        provider,
        generation_request,
        Identity(route=request.url.path, model=provider.info.model, key_id=caller.key_id, owner=caller.owner),
        # Nobody can resume a non-streamed answer: it stops as soon as its client leaves.
        resumable=stream,
        permit=permit,
        label=caller.label,
    )
    renderer = TutorialRenderer(sse.stream_name(generation))
    return await pipeline.answer(request, generation, renderer, stream=stream)


async def _stream(
    request: Request,
    pipeline: Pipeline,
    streams: StreamRegistry,
    provider: Provider,
    caller: Caller,
    message: str | None,
    settings: Settings,
    last_event_id: str | None,
) -> Response:
    resume = sse.parse_event_id(last_event_id)
    if resume is not None:
        name, seq = resume
        generation_id, epoch = sse.split_stream_name(name)
        found = await find_owned(streams, generation_id, caller.owner, epoch)
        if found is None:
            # 204 tells an EventSource to stop reconnecting: that answer is gone.
            return Response(status_code=204)
        return pipeline.attach(found, seq, TutorialRenderer(sse.stream_name(found)))
    text = clean_message(message, settings)
    return await _answer(request, pipeline, provider, caller, text, stream=True)


@router.get("/chat-complete", response_model=CompleteOut, summary="The whole answer at once")
async def chat_complete(
    request: Request,
    pipeline: PipelineDep,
    provider: DefaultModelDep,
    caller: CallerDep,
    settings: SettingsDep,
    message: MessageQuery = None,
) -> Response:
    text = clean_message(message, settings)
    return await _answer(request, pipeline, provider, caller, text, stream=False)


@router.post("/chat-complete", response_model=CompleteOut, summary="The whole answer at once (long prompts)")
async def chat_complete_post(
    request: Request,
    pipeline: PipelineDep,
    provider: DefaultModelDep,
    caller: CallerDep,
    settings: SettingsDep,
    body: Annotated[MessageIn, Body()],
) -> Response:
    text = clean_message(body.message, settings)
    return await _answer(request, pipeline, provider, caller, text, stream=False)


@router.get("/chat-stream", summary="The answer as Server-Sent Events", responses=STREAM_RESPONSES)
async def chat_stream(
    request: Request,
    pipeline: PipelineDep,
    streams: StreamsDep,
    provider: DefaultModelDep,
    caller: CallerDep,
    settings: SettingsDep,
    message: MessageQuery = None,
    last_event_id: LastEventId = None,
) -> Response:
    return await _stream(request, pipeline, streams, provider, caller, message, settings, last_event_id)


@router.post(
    "/chat-stream", summary="The answer as Server-Sent Events (long prompts)", responses=STREAM_RESPONSES
)
async def chat_stream_post(
    request: Request,
    pipeline: PipelineDep,
    streams: StreamsDep,
    provider: DefaultModelDep,
    caller: CallerDep,
    settings: SettingsDep,
    body: Annotated[MessageIn, Body()],
    last_event_id: LastEventId = None,
) -> Response:
    return await _stream(request, pipeline, streams, provider, caller, body.message, settings, last_event_id)


@router.post(
    "/chat-stream/{generation_id}/cancel",
    response_model=StreamCancelOut,
    summary="Stop a streamed answer now",
    responses={404: {"description": "No such answer is held."}},
)
async def chat_stream_cancel(streams: StreamsDep, caller: CallerDep, generation_id: str) -> StreamCancelOut:
    """Closing the connection stops an answer only after the detach grace period (the client
    may be reconnecting); a Stop button means now, on whichever process runs the answer. The id
    is the part of an event id before the last dot (or the first: an epoch may follow it)."""
    generation = await find_owned(streams, sse.split_stream_name(generation_id)[0], caller.owner)
    if generation is None:
        raise HTTPException(404, f"No streamed answer with id {generation_id!r}.")
    cancelled = generation.cancel()
    await generation.wait_finished()
    return StreamCancelOut(generation_id=generation_id, cancelled=cancelled)
