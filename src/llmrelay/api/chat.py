"""The JSON-event chat API: `POST /api/chat`, attach to an answer, cancel it.

Events carry JSON data and ids `<message id>.<seq>`; `start` is seq 0. A client that lost its
connection attaches again with `GET /api/messages/{id}/events` and `Last-Event-ID` (or
`?after=`) and gets exactly the events after that one, while the answer is held in memory
(LLMRELAY_STREAM_RETENTION_SECONDS after it ends); later, the stored answer is replayed whole.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from llmrelay.api.deps import CallerDep, DefaultModelDep, RuntimeDep, StoreDep, StreamsDep
from llmrelay.api.messages import clean_message
from llmrelay.conversations import ConversationNotFound, start_turn
from llmrelay.pipeline import Pipeline
from llmrelay.providers.base import Finished, TextDelta, Usage
from llmrelay.store.records import MessageRecord
from llmrelay.streams import Failure, LogEvent
from llmrelay.tenancy import find_owned
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer, stored_events

router = APIRouter(prefix="/api", tags=["chat"])

EVENTS_DOC = (
    "Server-Sent Events with JSON data: `start` {conversation_id, message_id, user_message_id, model}, "
    "`delta` {text}, `usage` {input_tokens, output_tokens}, `error` {message, status, kind}, "
    "`end` {finish_reason}. Ids are `<message_id>.<seq>`."
)
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": EVENTS_DOC},
    404: {"description": "Unknown conversation or message."},
    502: {
        "description": "The model failed before the answer started; `detail` says why, and "
        "`conversation_id` / `message_id` name where the question and the failed answer are stored."
    },
}


class ChatIn(BaseModel):
    message: str = Field(description="The user's message.", examples=["What is SSE?"])
    conversation_id: str | None = Field(None, description="Continue this conversation; omit to start one.")


class CancelOut(BaseModel):
    message_id: str
    cancelled: bool = Field(description="False when the answer had already finished.")
    status: str


class ChatEventsRenderer(Renderer):
    """The chat API's JSON events; ids `<message id>.<seq>`, `start` is seq 0.

    A failure before start is the status with `detail`, and where the question and the failed
    answer are stored (`conversation_id`, `message_id`), so a client can show them."""

    def __init__(self, message_id: str, meta: dict[str, str], name: str | None = None) -> None:
        self.message_id = message_id
        self.meta = meta
        # What event ids start with (sse.stream_name: the id, and the epoch of a shared log).
        self.name = name or message_id

    def opening(self) -> bytes:
        data = {"message_id": self.message_id, **self.meta}
        eid = sse.event_id(self.name, 0)
        return sse.encode(sse.dumps(data), event="start", id=eid, retry=sse.RECONNECT_MILLISECONDS)

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        eid = sse.event_id(self.name, seq)
        if isinstance(event, TextDelta):
            return sse.encode(sse.dumps({"text": event.text}), event="delta", id=eid)
        if isinstance(event, Usage):
            data: dict[str, Any] = {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens}
            if event.estimated:
                data["estimated"] = True
            return sse.encode(sse.dumps(data), event="usage", id=eid)
        if isinstance(event, Failure):
            failure = {"message": event.message, "status": event.status, "kind": event.kind}
            return sse.encode(sse.dumps(failure), event="error", id=eid)
        if isinstance(event, Finished):
            return sse.encode(sse.dumps({"finish_reason": event.reason}), event="end", id=eid)
        return None

    def failure(self, failure: Failure) -> Response:
        detail = {
            "detail": failure.message,
            "conversation_id": self.meta.get("conversation_id"),
            "message_id": self.message_id,
        }
        return JSONResponse(detail, status_code=failure.status)


@router.post("/chat", summary="Send a message; the answer streams back", responses=STREAM_RESPONSES)
async def chat(
    request: Request, runtime: RuntimeDep, provider: DefaultModelDep, caller: CallerDep, body: ChatIn
) -> Response:
    message = clean_message(body.message, runtime.settings)
    try:
        turn = await start_turn(
            runtime, provider, message, body.conversation_id, resumable=True, caller=caller
        )
    except ConversationNotFound:
        raise HTTPException(404, f"No conversation with id {body.conversation_id!r}.") from None
    generation = turn.generation
    renderer = ChatEventsRenderer(turn.message_id, generation.meta, sse.stream_name(generation))
    return await runtime.pipeline.answer(request, generation, renderer, stream=True)


def _stored_answer(record: MessageRecord) -> list[LogEvent]:
    """A finished answer no longer in memory, as the log it had."""
    usage = None
    if record.input_tokens is not None or record.output_tokens is not None:
        usage = Usage(record.input_tokens, record.output_tokens)
    failure = Failure(record.error, 502, "upstream_error") if record.error else None
    reason = record.finish_reason or ("stop" if record.status == "complete" else "error")
    return stored_events(record.content, usage, failure, reason)  # type: ignore[arg-type]


@router.get(
    "/messages/{message_id}/events",
    summary="Attach to a running or finished answer",
    responses={**STREAM_RESPONSES, 410: {"description": "Those events are no longer held."}},
)
async def message_events(
    store: StoreDep,
    streams: StreamsDep,
    caller: CallerDep,
    message_id: str,
    after: Annotated[int | None, Query(ge=0, description="Send the events after this seq.")] = None,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    position = after or 0
    epoch: str | None = None
    parsed = sse.parse_event_id(last_event_id)
    if parsed is not None:
        named, named_epoch = sse.split_stream_name(parsed[0])
        if named == message_id:
            position, epoch = parsed[1], named_epoch
    # With an epoch, only that instance of the log: a position is never applied to another.
    generation = await find_owned(streams, message_id, caller.owner, epoch)
    if generation is not None:
        renderer = ChatEventsRenderer(message_id, generation.meta, sse.stream_name(generation))
        return Pipeline.attach(generation, position, renderer)
    record = await store.get_message(caller.owner, message_id)
    if record is None or record.role != "assistant":
        raise HTTPException(404, f"No answer with id {message_id!r}.")
    if position > 0:
        raise HTTPException(
            410,
            "This answer is no longer held event by event; attach without Last-Event-ID "
            "to get it whole, or read it from its conversation.",
        )
    meta = {"conversation_id": record.conversation_id, "model": record.model or ""}
    return sse.event_stream(ChatEventsRenderer(record.id, meta).replay(_stored_answer(record)))


@router.post("/messages/{message_id}/cancel", response_model=CancelOut, summary="Stop an answer now")
async def cancel_message(
    store: StoreDep, streams: StreamsDep, caller: CallerDep, message_id: str
) -> CancelOut:
    generation = await find_owned(streams, message_id, caller.owner)
    if generation is not None and generation.cancel():
        await generation.wait_finished()
        return CancelOut(message_id=message_id, cancelled=True, status="cancelled")
    record = await store.get_message(caller.owner, message_id)
    if record is None or record.role != "assistant":
        raise HTTPException(404, f"No answer with id {message_id!r}.")
    return CancelOut(message_id=message_id, cancelled=False, status=record.status)
