"""`Store`: conversations, messages, responses, API keys and usage, in SQLite or PostgreSQL.

How the API uses it, and why it is cheap on the hot path: there is no write per token. The
user's message is written (`add_message`) before generation starts, the answer's row is
written once as `streaming` when it starts, and once more when it ends (`finish_message`)
with all of its text, or what there was of it and why it stopped (cancelled, error). A
server killed mid-answer leaves that row `streaming`; the next `Store.open` marks it
`interrupted`, so no answer looks as if it were still being written for ever.

Conversations belong to a tenant (`owner`, records.Owner). Every method that takes a
conversation or message id from a caller takes the caller's owner too, and another owner's id
behaves exactly as a missing one (None, False): ids leak nothing. Messages are owned through
their conversation.

Every method is one short transaction (see base.py). Write transactions take the write lock first
(`BEGIN IMMEDIATE` on SQLite; on PostgreSQL they update the conversation row first), so two
writers to one conversation queue up instead of racing for the next message position.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from llmrelay.store import migrate
from llmrelay.store.base import NotFound, NotReplaceable, StoreError
from llmrelay.store.engine import create_engine
from llmrelay.store.gateway import GatewayStore
from llmrelay.store.parts import images_json, message_record, tool_calls_json
from llmrelay.store.records import (
    DEFAULT_TITLE,
    HISTORY_STATUSES,
    MESSAGE_STATUSES,
    ROLES,
    TITLE_MAX_CHARS,
    ConversationRecord,
    MessageRecord,
    Owner,
    ToolCallRecord,
    new_id,
    storable_text,
    utcnow,
)
from llmrelay.store.tables import conversations, messages
from llmrelay.store.urls import database_url, is_sqlite

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = "The server stopped before this answer was finished."
# Any constant will do: it only has to be the same in every llmrelay process.
_MIGRATION_LOCK_KEY = 0x6C6C6D72656C6179 & 0x7FFFFFFFFFFFFFFF


class Store(GatewayStore):
    """The whole store; the gateway's tables are in gateway.py, shared plumbing in base.py."""

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str | None, *, recover_interrupted: bool = True) -> Store:
        """Connect, migrate to head and (unless told not to) mark answers left `streaming` by
        a previous server as `interrupted`. Commands that may run beside a live server
        (`llmrelay keys …`, `llmrelay db upgrade`) pass `recover_interrupted=False`."""
        parsed = database_url(url)
        store = cls(create_engine(parsed), parsed)
        try:
            await store.upgrade()
            if recover_interrupted:
                count = await store.mark_interrupted()
                if count:
                    log.warning("marked %d unfinished answer(s) from a previous run as interrupted", count)
        except BaseException:
            await store.close()
            raise
        log.info("store ready: %s", store.display_url)
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    async def upgrade(self) -> None:
        """Apply every migration not yet applied, in one transaction."""
        try:
            async with self._write() as conn:
                if not is_sqlite(self._url):
                    # Two servers starting at once: the second waits, then finds nothing to do.
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                before, after = await conn.run_sync(migrate.upgrade_to_head)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot use the database at {self.display_url}: {_reason(exc)}") from exc
        if before != after:
            log.info("database %s migrated from %s to %s", self.display_url, before or "empty", after)

    async def revision(self) -> str | None:
        """The migration the database is at (None before the first)."""
        async with self._engine.connect() as conn:
            return await conn.run_sync(migrate.current_revision)

    async def mark_interrupted(self, ids: Collection[str] | None = None) -> int:
        """Answers still `streaming` (of `ids`, or all) become `interrupted`; returns how many."""
        if ids is not None and not ids:
            return 0
        query = update(messages).where(messages.c.status == "streaming")
        if ids is not None:
            query = query.where(messages.c.id.in_(list(ids)))
        async with self._write() as conn:
            result = await conn.execute(
                query.values(status="interrupted", completed_at=utcnow(), error=INTERRUPTED_ERROR)
            )
            return result.rowcount

    async def interrupt_answer(self, message_id: str, content: str) -> bool:
        """An answer whose server died mid-way (found by another process, streams_redis): kept
        with the text its listeners saw, `interrupted`. False if it was no longer `streaming`."""
        async with self._write() as conn:
            result = await conn.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == "streaming")
                .values(
                    content=storable_text(content),
                    status="interrupted",
                    finish_reason="error",
                    completed_at=utcnow(),
                    error=INTERRUPTED_ERROR,
                )
            )
            return bool(result.rowcount)

    async def streaming_answer_ids(self, *, created_before: datetime) -> list[str]:
        """Answers still `streaming` that started before `created_before`."""
        query = select(messages.c.id).where(
            messages.c.status == "streaming", messages.c.created_at < created_before
        )
        async with self._engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    # -- conversations ---------------------------------------------------------------------

    async def create_conversation(self, owner: Owner, title: str | None = None) -> ConversationRecord:
        title = storable_text(_clean_title(title)) if title and title.strip() else DEFAULT_TITLE
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id("conv"),
            "owner": owner,
            "title": title,
            "created_at": now,
            "updated_at": now,
        }
        async with self._write() as conn:
            await conn.execute(insert(conversations).values(**row))
        return ConversationRecord(**row)

    async def list_conversations(
        self, owner: Owner, *, limit: int = 50, offset: int = 0
    ) -> list[ConversationRecord]:
        """The owner's conversations, most recently active first (a new message moves a
        conversation to the top)."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset at least 0")
        query = (
            select(conversations)
            .where(conversations.c.owner == owner)
            .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ConversationRecord(**row) for row in rows]

    async def get_conversation(self, owner: Owner, conversation_id: str) -> ConversationRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(conversations).where(_owned(owner, conversation_id))))
                .mappings()
                .first()
            )
            if row is None:
                return None
            found = await self._messages(conn, conversation_id)
        return ConversationRecord(**row, messages=found)

    async def rename_conversation(
        self, owner: Owner, conversation_id: str, title: str
    ) -> ConversationRecord | None:
        """Renaming is not activity: the conversation keeps its place in the list."""
        title = _clean_title(title)
        async with self._write() as conn:
            result = await conn.execute(
                update(conversations).where(_owned(owner, conversation_id)).values(title=title)
            )
            if result.rowcount == 0:
                return None
            row = (
                (await conn.execute(select(conversations).where(conversations.c.id == conversation_id)))
                .mappings()
                .one()
            )
        return ConversationRecord(**row)

    async def delete_conversation(self, owner: Owner, conversation_id: str) -> bool:
        """Deletes its messages too (ON DELETE CASCADE)."""
        async with self._write() as conn:
            result = await conn.execute(conversations.delete().where(_owned(owner, conversation_id)))
        return result.rowcount > 0

    # -- messages --------------------------------------------------------------------------

    async def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        status: str = "complete",
        provider: str | None = None,
        model: str | None = None,
        images: Sequence[str] = (),
    ) -> MessageRecord:
        """Append a message at the end of the conversation. Raises NotFound for an unknown id.
        Not scoped by owner: callers append only to a conversation they found as its owner."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"status must be one of {sorted(MESSAGE_STATUSES)}, not {status!r}")
        now = utcnow()
        async with self._write() as conn:
            # Updating the conversation first locks its row: the next position is ours alone.
            bumped = await conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(updated_at=now)
            )
            if bumped.rowcount == 0:
                raise NotFound(f"no conversation {conversation_id!r}")
            last = await conn.scalar(
                select(func.max(messages.c.position)).where(messages.c.conversation_id == conversation_id)
            )
            row = _new_row(conversation_id, 0 if last is None else last + 1, role, content, status, now)
            row.update(provider=provider, model=model, images=images_json(images))
            await conn.execute(insert(messages).values(**row))
        return message_record(row)

    async def replace_answer(
        self, owner: Owner, answer_id: str, *, provider: str | None, model: str | None
    ) -> MessageRecord:
        """Regenerating: deletes the owner's answer `answer_id`, which must be its conversation's
        last message and finished, and puts a new `streaming` answer in its place (same
        position, new id), in one transaction. The question before it stays as it is. Raises
        NotFound (no such answer of this owner's) or NotReplaceable (saying why)."""
        now = utcnow()
        answer = (
            select(messages.c.conversation_id, messages.c.position, messages.c.role, messages.c.status)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.id == answer_id, conversations.c.owner == owner)
        )
        async with self._write() as conn:
            found = (await conn.execute(answer)).first()
            if found is None or found.role != "assistant":
                raise NotFound(f"no answer {answer_id!r}")
            conversation_id = found.conversation_id
            # The conversation row first, as everywhere (the lock order add_message takes); then
            # the answer read again under that lock: a regeneration that got there first has
            # replaced it meanwhile (on PostgreSQL the first read does not wait for it).
            await conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(updated_at=now)
            )
            found = (await conn.execute(answer)).first()
            if found is None:
                raise NotFound(f"no answer {answer_id!r}")
            last = await conn.scalar(
                select(func.max(messages.c.position)).where(messages.c.conversation_id == conversation_id)
            )
            if last != found.position:
                raise NotReplaceable("Only the last answer of a conversation can be regenerated.")
            if found.status == "streaming":
                raise NotReplaceable("This answer is still being written; stop it first.")
            await conn.execute(messages.delete().where(messages.c.id == answer_id))
            row = _new_row(conversation_id, found.position, "assistant", "", "streaming", now)
            row.update(provider=provider, model=model)
            await conn.execute(insert(messages).values(**row))
        return message_record(row)

    async def get_message(self, owner: Owner, message_id: str) -> MessageRecord | None:
        """The message, if its conversation is the owner's."""
        query = (
            select(messages)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.id == message_id, conversations.c.owner == owner)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else message_record(row)

    async def finish_message(
        self,
        message_id: str,
        *,
        content: str,
        status: str,
        finish_reason: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        ttft_ms: float | None,
        duration_ms: float | None,
        error: str | None,
        tool_calls: Sequence[ToolCallRecord] = (),
    ) -> None:
        """The one write at the end of an answer. Raises NotFound for an unknown id."""
        if status not in MESSAGE_STATUSES - {"streaming"}:
            raise ValueError(
                f"a finished message's status is complete, cancelled, error or interrupted, not {status!r}"
            )
        now = utcnow()
        async with self._write() as conn:
            conversation_id = await conn.scalar(
                select(messages.c.conversation_id).where(messages.c.id == message_id)
            )
            if conversation_id is None:
                raise NotFound(f"no message {message_id!r}")
            # Same lock order as add_message (conversation, then message): no deadlock.
            await conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(updated_at=now)
            )
            await conn.execute(
                update(messages)
                .where(messages.c.id == message_id)
                .values(
                    content=content,
                    status=status,
                    finish_reason=finish_reason,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    ttft_ms=ttft_ms,
                    duration_ms=duration_ms,
                    error=error,
                    tool_calls=tool_calls_json(tool_calls),
                    completed_at=now,
                )
            )

    async def history(self, conversation_id: str) -> list[MessageRecord]:
        """What goes back to the model, in order: finished messages, and the partial text of
        answers that stopped early (the user saw it). Skips answers still streaming and those
        that stopped before any text. Empty for an unknown conversation."""
        async with self._engine.connect() as conn:
            found = await self._messages(conn, conversation_id)
        return [m for m in found if m.status in HISTORY_STATUSES and (m.status == "complete" or m.content)]

    async def _messages(self, conn: AsyncConnection, conversation_id: str) -> list[MessageRecord]:
        query = (
            select(messages)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.position)
        )
        return [message_record(row) for row in (await conn.execute(query)).mappings()]


def _new_row(
    conversation_id: str, position: int, role: str, content: str, status: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "conversation_id": conversation_id,
        "position": position,
        "role": role,
        "content": storable_text(content),
        "status": status,
        "finish_reason": None,
        "provider": None,
        "model": None,
        "input_tokens": None,
        "output_tokens": None,
        "ttft_ms": None,
        "duration_ms": None,
        "error": None,
        "created_at": now,
        "completed_at": None if status == "streaming" else now,
        "images": None,
        "tool_calls": None,
    }


def _owned(owner: Owner, conversation_id: str) -> ColumnElement[bool]:
    return and_(conversations.c.id == conversation_id, conversations.c.owner == owner)


def _clean_title(title: str | None) -> str:
    cleaned = (title or "").strip()
    if not cleaned or len(cleaned) > TITLE_MAX_CHARS:
        raise ValueError(f"a title is 1 to {TITLE_MAX_CHARS} characters")
    return cleaned


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line only (SQLAlchemy appends SQL and a docs link)."""
    orig = getattr(exc, "orig", None) or exc
    words = str(orig).strip().splitlines()
    return words[0] if words else type(orig).__name__
