"""What the store hands out: frozen dataclasses, detached from any database session.

Callers never see SQLAlchemy rows, so a record can cross a task or be serialised after the
connection it came from is gone. Times are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NewType, get_args

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
# How much of a key is kept to tell keys apart in lists and logs: "sk-llmrelay-ab12" (shown
# with "…"). Four hex digits of 48 cost the secret nothing worth having.
VISIBLE_KEY_CHARS = len(API_KEY_PREFIX) + 4

# Who a row belongs to: a tenant. A stored key's owner is its id (`key_…`); a key from
# LLMRELAY_API_KEYS gets `env_` + a hash of the key (`env_key_owner`: stable across restarts,
# and the key cannot be read back from it); requests made without any key (a server with
# no keys configured) belong to NO_KEY_OWNER. A NewType, so mypy catches an owner and an id
# passed the wrong way round.
Owner = NewType("Owner", str)
NO_KEY_OWNER = Owner("nokey")

BudgetPeriod = Literal["total", "month"]
BUDGET_PERIODS: frozenset[str] = frozenset(get_args(BudgetPeriod))


def env_key_owner(plain_key: str) -> Owner:
    """The tenant of an LLMRELAY_API_KEYS key: `env_` + 32 hex digits of a salted sha256."""
    digest = hashlib.sha256(b"llmrelay env key owner:" + plain_key.encode("utf-8")).hexdigest()
    return Owner(f"env_{digest[:32]}")


def visible_prefix(plain_key: str) -> str:
    return plain_key[:VISIBLE_KEY_CHARS]


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


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """A call an answer made: the function's name and the JSON text of its arguments, as the
    model wrote them (not parsed)."""

    id: str
    name: str
    arguments: str


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
    # Beyond the text: the images a user sent (data URLs), the calls an answer made.
    images: tuple[str, ...] = ()
    tool_calls: tuple[ToolCallRecord, ...] = ()


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    owner: Owner
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
    owner: Owner
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, kw_only=True)
class KeyLimits:
    """A key's own limits; None: none of its own (the LLMRELAY_DEFAULT_* setting applies)."""

    rpm: int | None = None
    tpm: int | None = None
    max_streams: int | None = None
    budget_tokens: int | None = None
    budget_period: BudgetPeriod = "total"

    def describe(self) -> str:
        """For log lines and the CLI: `rpm=60 tpm=- max_streams=2 budget=1000/month`."""

        def shown(value: int | None) -> str:
            return "-" if value is None else str(value)

        budget = shown(self.budget_tokens)
        if self.budget_tokens is not None:
            budget += f"/{self.budget_period}"
        return f"rpm={shown(self.rpm)} tpm={shown(self.tpm)} max_streams={shown(self.max_streams)} budget={budget}"


LIMIT_FIELDS = ("rpm", "tpm", "max_streams", "budget_tokens")


@dataclass(frozen=True, kw_only=True)
class ApiKeyRecord:
    """A key's metadata. The key itself is shown once at creation and never stored."""

    id: str
    name: str
    # The key's first characters (`sk-llmrelay-ab12`), None for keys made before they were kept.
    prefix: str | None = None
    is_admin: bool = False
    limits: KeyLimits = field(default_factory=KeyLimits)
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def owner(self) -> Owner:
        return Owner(self.id)

    @property
    def shown_prefix(self) -> str:
        """What names the key in lists and logs: `sk-llmrelay-ab12…` (never the secret)."""
        return f"{self.prefix}…" if self.prefix else "(made before prefixes were kept)"


@dataclass(frozen=True, kw_only=True)
class UsageRow:
    """The tokens one answer cost, against the key that asked (None: no stored key) and the
    tenant it belongs to (an env key's owner has no api_key_id)."""

    api_key_id: str | None
    owner: Owner
    route: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    created_at: datetime = field(default_factory=utcnow)
