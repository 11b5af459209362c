"""The JSON-event chat API: `POST /api/chat`, regenerate, attach to an answer, cancel it, and
the models a person may choose from (`GET /api/models`).

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

from llmrelay.api.deps import CallerDep, ModelsDep, RuntimeDep, StoreDep, StreamsDep
from llmrelay.api.messages import clean_images, clean_message
from llmrelay.conversations import AnswerNotFound, ConversationNotFound, Turn, regenerate_turn, start_turn
from llmrelay.models import ModelRegistry
from llmrelay.pipeline import Pipeline
from llmrelay.providers.base import (
    Finished,
    Provider,
    ProviderError,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmrelay.runtime import Runtime
from llmrelay.store import NotReplaceable
from llmrelay.store.records import MessageRecord
from llmrelay.streams import Failure, LogEvent
from llmrelay.tenancy import find_owned
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer, stored_events

router = APIRouter(prefix="/api", tags=["chat"])

EVENTS_DOC = (
    "Server-Sent Events with JSON data: `start` {conversation_id, message_id, user_message_id, model}, "
    "`delta` {text} (with `refusal: true` for a refusal), `reasoning` {text} (what the model showed of "
    "its reasoning, not part of the answer), `tool_call` {index, id, name, arguments} (a piece of a "
    "call the model made: the first of call `index` names it, later ones carry fragments of its "
    "arguments), `usage` {input_tokens, output_tokens}, `error` {message, status, kind}, "
    "`end` {finish_reason}. Ids are `<message_id>.<seq>`."
)
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": EVENTS_DOC},
    400: {"description": "Images sent to a model that cannot see them."},
    404: {"description": "Unknown conversation, message or model."},
    502: {
        "description": "The model failed before the answer started; `detail` says why, and "
        "`conversation_id` / `message_id` name where the question and the failed answer are stored."
    },
}


class ChatIn(BaseModel):
    message: str = Field(description="The user's message.", examples=["What is SSE?"])
    conversation_id: str | None = Field(None, description="Continue this conversation; omit to start one.")
    model: str | None = Field(None, description="A name from `GET /api/models`; omit for the default.")
    images: list[str] = Field(
        default_factory=list,
        description="Images for a model that sees (`sees_images` in `GET /api/models`), as data URLs "
        "(`data:image/png;base64,…`; PNG, JPEG, GIF or WebP, at most 8, each within LLMRELAY_MAX_IMAGE_BYTES).",
    )


class RegenerateIn(BaseModel):
    model: str | None = Field(
        None, description="Answer with this model (a name from `GET /api/models`); omit for the default."
    )


class ModelOut(BaseModel):
    name: str = Field(description="What to send as `model`.")
    provider: str
    sees_images: bool = Field(description="Whether messages to it may carry images.")


class ModelsOut(BaseModel):
    default: str = Field(description="The model used when a request names none.")
    models: list[ModelOut]


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
        if isinstance(event, ToolCallDelta):
            piece = {"index": event.index, "id": event.id, "name": event.name, "arguments": event.arguments}
            return sse.encode(sse.dumps(piece), event="tool_call", id=eid)
        if isinstance(event, RefusalDelta):
            # The words a person reads in place of an answer (and the stored answer keeps).
            return sse.encode(sse.dumps({"text": event.text, "refusal": True}), event="delta", id=eid)
        if isinstance(event, ReasoningDelta):
            return sse.encode(sse.dumps({"text": event.text}), event="reasoning", id=eid)
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


@router.get("/models", response_model=ModelsOut, summary="The models a message may name")
async def list_models(models: ModelsDep) -> ModelsOut:
    return ModelsOut(
        default=models.default_name,
        models=[
            ModelOut(name=name, provider=p.info.name, sees_images=p.info.sees_images)
            for name, p in models.items()
        ],
    )


def _model(models: ModelRegistry, name: str | None) -> tuple[str, Provider]:
    """The model a request names (its name and provider), or the default; 404 for another name."""
    if name is None:
        return models.default_name, models.default
    provider = models.get(name)
    if provider is None:
        raise HTTPException(404, f"No model named {name!r}; this server has: {', '.join(models.names())}.")
    return name, provider


@router.post("/chat", summary="Send a message; the answer streams back", responses=STREAM_RESPONSES)
async def chat(request: Request, runtime: RuntimeDep, caller: CallerDep, body: ChatIn) -> Response:
    name, provider = _model(runtime.models, body.model)
    message = clean_message(body.message, runtime.settings)
    images = clean_images(body.images, provider, runtime.settings, name)
    try:
        turn = await start_turn(
            runtime,
            provider,
            message,
            body.conversation_id,
            resumable=True,
            caller=caller,
            model_name=name,
            images=images,
        )
    except ConversationNotFound:
        raise HTTPException(404, f"No conversation with id {body.conversation_id!r}.") from None
    except ProviderError as exc:  # the history cannot fit this model's context
        raise HTTPException(exc.status, exc.message) from None
    return await _stream(request, runtime, turn)


@router.post(
    "/messages/{message_id}/regenerate",
    summary="Answer the last question again, replacing this answer",
    responses={**STREAM_RESPONSES, 409: {"description": "Not the last answer, or still being written."}},
)
async def regenerate(
    request: Request,
    runtime: RuntimeDep,
    caller: CallerDep,
    message_id: str,
    body: RegenerateIn | None = None,
) -> Response:
    name, provider = _model(runtime.models, body.model if body else None)
    try:
        turn = await regenerate_turn(runtime, provider, message_id, caller=caller, model_name=name)
    except AnswerNotFound:
        raise HTTPException(404, f"No answer with id {message_id!r}.") from None
    except NotReplaceable as exc:
        raise HTTPException(409, str(exc)) from None
    except ProviderError as exc:
        raise HTTPException(exc.status, exc.message) from None
    return await _stream(request, runtime, turn)


async def _stream(request: Request, runtime: Runtime, turn: Turn) -> Response:
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
    calls = [ToolCall(c.id, c.name, c.arguments) for c in record.tool_calls]
    return stored_events(record.content, usage, failure, reason, calls)  # type: ignore[arg-type]


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
