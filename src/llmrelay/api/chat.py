"""The JSON-event chat API: `POST /api/chat`, attach to an answer, cancel it.

Events carry JSON data and ids `<message id>.<seq>`; `start` is seq 0. A client that lost its
connection attaches again with `GET /api/messages/{id}/events` and `Last-Event-ID` (or
`?after=`) and gets exactly the events after that one, while the answer is held in memory
(LLMRELAY_STREAM_RETENTION_SECONDS after it ends); later, the stored answer is replayed whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from llmrelay import sse
from llmrelay.api.common import clean_message, first_event
from llmrelay.auth import current_caller
from llmrelay.conversations import ConversationNotFound, start_turn, store_of
from llmrelay.providers.base import Finished, TextDelta, Usage
from llmrelay.relay import RelayDep
from llmrelay.store.records import MessageRecord
from llmrelay.streams import Failure, LogEvent

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


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def render_json(message_id: str, seq: int, event: LogEvent) -> bytes | None:
    eid = sse.event_id(message_id, seq)
    if isinstance(event, TextDelta):
        return sse.encode(_json({"text": event.text}), event="delta", id=eid)
    if isinstance(event, Usage):
        data = {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens}
        return sse.encode(_json(data), event="usage", id=eid)
    if isinstance(event, Failure):
        failure = {"message": event.message, "status": event.status, "kind": event.kind}
        return sse.encode(_json(failure), event="error", id=eid)
    if isinstance(event, Finished):
        return sse.encode(_json({"finish_reason": event.reason}), event="end", id=eid)
    return None


def start_event(message_id: str, meta: dict[str, str]) -> bytes:
    data = {"message_id": message_id, **meta}
    return sse.encode(
        _json(data), event="start", id=sse.event_id(message_id, 0), retry=sse.RECONNECT_MILLISECONDS
    )


@router.post("/chat", summary="Send a message; the answer streams back", responses=STREAM_RESPONSES)
async def chat(request: Request, relay: RelayDep, body: ChatIn) -> Response:
    message = clean_message(body.message, relay.settings)
    try:
        turn = await start_turn(
            relay,
            message,
            body.conversation_id,
            grace_seconds=relay.settings.detach_grace_seconds,
            api_key_id=current_caller(request).key_id,
        )
    except ConversationNotFound:
        raise HTTPException(404, f"No conversation with id {body.conversation_id!r}.") from None
    generation = turn.generation
    first = await first_event(request, generation)
    if isinstance(first, Failure):
        # The question and the failed answer are stored: say where, so a client can show them,
        # once the failure is written (a client reading the conversation next must see it).
        await generation.wait_finished()
        detail = {
            "detail": first.message,
            "conversation_id": turn.conversation_id,
            "message_id": turn.message_id,
        }
        return JSONResponse(detail, status_code=first.status)
    start = start_event(turn.message_id, generation.meta)
    return sse.event_stream(sse.follow(generation, 0, render_json, first=start))


def _stored_events(record: MessageRecord, conversation_id: str) -> AsyncIterator[bytes]:
    """A finished answer no longer in memory, replayed from the store in one go."""

    async def replay() -> AsyncIterator[bytes]:
        meta = {"conversation_id": conversation_id, "model": record.model or ""}
        yield start_event(record.id, meta)
        seq = 1
        if record.content:
            yield render_json(record.id, seq, TextDelta(record.content)) or b""
            seq += 1
        if record.input_tokens is not None or record.output_tokens is not None:
            yield render_json(record.id, seq, Usage(record.input_tokens, record.output_tokens)) or b""
            seq += 1
        if record.error:
            yield render_json(record.id, seq, Failure(record.error, 502, "upstream_error")) or b""
            seq += 1
        reason = record.finish_reason or ("stop" if record.status == "complete" else "error")
        yield render_json(record.id, seq, Finished(reason)) or b""  # type: ignore[arg-type]

    return replay()


@router.get(
    "/messages/{message_id}/events",
    summary="Attach to a running or finished answer",
    responses={**STREAM_RESPONSES, 410: {"description": "Those events are no longer held."}},
)
async def message_events(
    relay: RelayDep,
    message_id: str,
    after: Annotated[int | None, Query(ge=0, description="Send the events after this seq.")] = None,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    position = after or 0
    parsed = sse.parse_event_id(last_event_id)
    if parsed is not None and parsed[0] == message_id:
        position = parsed[1]
    generation = relay.streams.get(message_id)
    if generation is not None:
        first = start_event(message_id, generation.meta) if position == 0 else None
        return sse.event_stream(sse.follow(generation, position, render_json, first=first))
    record = await store_of(relay).get_message(message_id)
    if record is None or record.role != "assistant":
        raise HTTPException(404, f"No answer with id {message_id!r}.")
    if position > 0:
        raise HTTPException(
            410,
            "This answer is no longer held event by event; attach without Last-Event-ID "
            "to get it whole, or read it from its conversation.",
        )
    return sse.event_stream(_stored_events(record, record.conversation_id))


@router.post("/messages/{message_id}/cancel", response_model=CancelOut, summary="Stop an answer now")
async def cancel_message(relay: RelayDep, message_id: str) -> CancelOut:
    generation = relay.streams.get(message_id)
    if generation is not None and generation.cancel():
        await generation.wait_finished()
        return CancelOut(message_id=message_id, cancelled=True, status="cancelled")
    record = await store_of(relay).get_message(message_id)
    if record is None or record.role != "assistant":
        raise HTTPException(404, f"No answer with id {message_id!r}.")
    return CancelOut(message_id=message_id, cancelled=False, status=record.status)
