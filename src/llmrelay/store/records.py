"""What the store hands out: frozen dataclasses, detached from any database session.

Callers never see SQLAlchemy rows, so a record can cross a task or be serialised after the
connection it came from is gone. Times are timezone-aware UTC.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

Role = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "streaming", "cancelled", "error", "interrupted"]

ROLES: frozenset[str] = frozenset(get_args(Role))
MESSAGE_STATUSES: frozenset[str] = frozenset(get_args(MessageStatus))
# What goes back to the model as history: finished turns, and what the user saw of an answer
# that stopped early. A message still streaming is the answer being written right now.
HISTORY_STATUSES: frozenset[str] = frozenset({"complete", "cancelled", "error", "interrupted"})

DEFAULT_TITLE = "New chat"
TITLE_MAX_CHARS = 200
KEY_NAME_MAX_CHARS = 100
API_KEY_PREFIX = "sk-llmrelay-"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """`value` with what no backend can store replaced by U+FFFD: NUL (PostgreSQL text refuses
    it) and lone surrogates (no driver can encode them; JSON's "\\ud800" decodes to one)."""
    return _UNSTORABLE.sub("\ufffd", value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """`prefix_` + 12 hex digits of milliseconds + 16 random hex digits.

    The time part makes ids sort in creation order (a tie-breaker for equal timestamps);
    the random part makes them unguessable enough to appear in URLs.
    """
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class MessageRecord:
    id: str
    conversation_id: str
    position: int
    role: str
    content: str
    status: str
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


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    # Filled by `Store.get_conversation`; empty in listings.
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ResponseRecord:
    """One /v1/responses call, kept so `previous_response_id` can continue it."""

    id: str = field(default_factory=lambda: new_id("resp"))
    previous_response_id: str | None = None
    model: str
    input_json: str  # the input message list, as JSON text
    output_text: str
    status: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    api_key_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ApiKeyRecord:
    """A key's metadata. The key itself is shown once at creation and never stored."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, kw_only=True)
class UsageRow:
    """The tokens one answer cost, against the key that asked (None: no key)."""

    api_key_id: str | None
    route: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    created_at: datetime = field(default_factory=utcnow)
