"""Conversations: list, read (with messages), rename, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmrelay.api.deps import CallerDep, StoreDep, StreamsDep
from llmrelay.markdown import render_markdown
from llmrelay.store.records import TITLE_MAX_CHARS, ConversationRecord, MessageRecord
from llmrelay.tenancy import find_owned

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


class ToolCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str = Field(description="The function the model called.")
    arguments: str = Field(description="Its arguments, as the JSON text the model wrote.")


class MessageOut(BaseModel):
    id: str
    role: str
    content: str
    status: str = Field(description="complete, streaming, cancelled, error or interrupted.")
    finish_reason: str | None
    provider: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    ttft_ms: float | None
    duration_ms: float | None
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    html: str | None = Field(None, description="An answer's content as sanitised HTML (markdown rendered).")
    images: list[str] = Field(default_factory=list, description="The images a question carried (data URLs).")
    tool_calls: list[ToolCallOut] = Field(default_factory=list, description="The calls an answer made.")

    @classmethod
    def of(cls, record: MessageRecord) -> MessageOut:
        out = cls.model_validate(record, from_attributes=True)
        if record.role == "assistant" and record.content:
            out.html = render_markdown(record.content)
        return out


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: ConversationRecord) -> ConversationOut:
        return cls.model_validate(record, from_attributes=True)


class ConversationWithMessages(ConversationOut):
    model: str | None = Field(
        description="The model of its latest answer (what the page selects when it is opened again)."
    )
    messages: list[MessageOut]

    @classmethod
    def of(cls, record: ConversationRecord) -> ConversationWithMessages:
        answers = [m for m in record.messages if m.role == "assistant"]
        return cls(
            id=record.id,
            title=record.title,
            created_at=record.created_at,
            updated_at=record.updated_at,
            model=answers[-1].model if answers else None,
            messages=[MessageOut.of(m) for m in record.messages],
        )


class ConversationPatch(BaseModel):
    title: str = Field(description="The new title.", max_length=TITLE_MAX_CHARS)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def _not_found(conversation_id: str) -> HTTPException:
    return HTTPException(404, f"No conversation with id {conversation_id!r}.")


@router.get("", response_model=list[ConversationOut], summary="Conversations, most recent first")
async def list_conversations(
    store: StoreDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ConversationOut]:
    records = await store.list_conversations(caller.owner, limit=limit, offset=offset)
    return [ConversationOut.of(r) for r in records]


@router.get(
    "/{conversation_id}",
    response_model=ConversationWithMessages,
    summary="One conversation with its messages",
)
async def get_conversation(
    store: StoreDep, caller: CallerDep, conversation_id: str
) -> ConversationWithMessages:
    record = await store.get_conversation(caller.owner, conversation_id)
    if record is None:
        raise _not_found(conversation_id)
    return ConversationWithMessages.of(record)


@router.patch("/{conversation_id}", response_model=ConversationOut, summary="Rename a conversation")
async def rename_conversation(
    store: StoreDep, caller: CallerDep, conversation_id: str, body: ConversationPatch
) -> ConversationOut:
    record = await store.rename_conversation(caller.owner, conversation_id, body.title)
    if record is None:
        raise _not_found(conversation_id)
    return ConversationOut.of(record)


@router.delete("/{conversation_id}", status_code=204, summary="Delete a conversation and its messages")
async def delete_conversation(
    store: StoreDep, streams: StreamsDep, caller: CallerDep, conversation_id: str
) -> Response:
    record = await store.get_conversation(caller.owner, conversation_id)
    if record is None:
        raise _not_found(conversation_id)
    # Stop its running answers first, so nothing writes into a deleted conversation.
    for message in record.messages:
        running = message.status == "streaming"
        generation = await find_owned(streams, message.id, caller.owner) if running else None
        if generation is not None and generation.cancel():
            await generation.wait_finished()
    await store.delete_conversation(caller.owner, conversation_id)
    return Response(status_code=204)
