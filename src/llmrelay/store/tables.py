"""The schema as SQLAlchemy Core tables. The migrations create exactly this (a test compares).

Core rather than the ORM: the store reads and writes whole rows in short transactions and
hands out frozen records, so there is no identity map or lazy loading to manage under asyncio.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)

from llmrelay.store.records import NO_KEY_OWNER, storable_text

# Named constraints, so a later migration can drop or alter them by name on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    PostgreSQL keeps the zone (timestamptz); SQLite keeps none, so values are stored as UTC
    and given their zone back on the way out. Naive datetimes are refused: their zone is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StorableText(TypeDecorator[str]):
    """Text as any backend can store it. PostgreSQL refuses NUL characters, and no driver can
    encode a lone surrogate (JSON's "\\ud800" decodes to one); both become U+FFFD, so an odd
    character in a prompt or an answer cannot fail the write that keeps the whole answer."""

    impl: type[String] = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else storable_text(value)


class StorableString(StorableText):
    impl = String
    cache_ok = True


# Ids arrive from URLs too: a NUL or lone surrogate in a lookup must find nothing, not fail the
# query (PostgreSQL refuses NUL even as a parameter).
ID = StorableString(40)
NAME = StorableString(200)


def owner_column() -> Column[str]:
    """The tenant a row belongs to (records.Owner). The server default is for rows that existed
    before owners did (migration 0002): they belong to the no-key tenant. The store always
    writes the owner itself."""
    return Column("owner", ID, nullable=False, server_default=NO_KEY_OWNER)


conversations = Table(
    "conversations",
    metadata,
    Column("id", ID, primary_key=True),
    owner_column(),
    Column("title", StorableString(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False, index=True),
    # A tenant's list, most recent first.
    Index("ix_conversations_owner_updated_at", "owner", "updated_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "conversation_id",
        ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", StorableText, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("finish_reason", String(64)),
    Column("provider", NAME),
    Column("model", NAME),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("ttft_ms", Float),
    Column("duration_ms", Float),
    Column("error", StorableText),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    # Beyond the text, as JSON (store/parts.py); NULL: none. A user's images, an answer's calls.
    Column("images", StorableText),
    Column("tool_calls", StorableText),
    CheckConstraint("role IN ('system', 'user', 'assistant')", name="role"),
    CheckConstraint(
        "status IN ('complete', 'streaming', 'cancelled', 'error', 'interrupted')", name="status"
    ),
    # One message per place in a conversation; also the index that reads a conversation in order.
    Index("ix_messages_conversation_id_position", "conversation_id", "position", unique=True),
)

responses = Table(
    "responses",
    metadata,
    Column("id", ID, primary_key=True),
    # No foreign key: a response may outlive the one it continued.
    Column("previous_response_id", ID),
    Column("model", NAME, nullable=False),
    Column("input_json", StorableText, nullable=False),
    Column("output_text", StorableText, nullable=False),
    Column("status", String(32), nullable=False),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("api_key_id", ID),
    owner_column(),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    # sha256 hex of the whole key: a stolen database does not give working keys.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    # The first characters of the key (records.VISIBLE_KEY_CHARS), to tell keys apart; NULL for
    # keys made before 0002, whose secret was never kept.
    Column("prefix", String(32)),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    # Limits of its own; NULL: none (the LLMRELAY_DEFAULT_* setting applies).
    Column("rpm", Integer),
    Column("tpm", Integer),
    Column("max_streams", Integer),
    Column("budget_tokens", Integer),
    # total | month (checked by the store: a CHECK would make SQLite rebuild the table).
    Column("budget_period", String(8), nullable=False, server_default="total"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("api_key_id", ID, ForeignKey("api_keys.id", ondelete="SET NULL"), index=True),
    owner_column(),
    Column("route", String(100), nullable=False),
    Column("model", NAME, nullable=False),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    # A tenant's spending since a date (budgets), and usage per day.
    Index("ix_usage_owner_created_at", "owner", "created_at"),
)
