"""The store: conversations, messages, responses, API keys and usage (SQLAlchemy async).

SQLite file by default, PostgreSQL with LLMRELAY_DATABASE_URL=postgresql+asyncpg://…;
migrations (Alembic) are applied by `Store.open`. See store.py for how writes are kept off
the streaming hot path.
"""

from llmrelay.store.base import NotFound, NotReplaceable, StoreError
from llmrelay.store.gateway import UsageDay
from llmrelay.store.records import (
    DEFAULT_TITLE,
    HISTORY_STATUSES,
    MESSAGE_STATUSES,
    NO_KEY_OWNER,
    ROLES,
    TITLE_MAX_CHARS,
    ApiKeyRecord,
    ConversationRecord,
    KeyLimits,
    MessageRecord,
    Owner,
    ResponseRecord,
    ToolCallRecord,
    UsageRow,
    env_key_owner,
    new_id,
)
from llmrelay.store.store import Store
from llmrelay.store.urls import DEFAULT_URL, DatabaseUrlError, database_url, display_url

__all__ = [
    "DEFAULT_TITLE",
    "DEFAULT_URL",
    "HISTORY_STATUSES",
    "MESSAGE_STATUSES",
    "NO_KEY_OWNER",
    "ROLES",
    "TITLE_MAX_CHARS",
    "ApiKeyRecord",
    "ConversationRecord",
    "DatabaseUrlError",
    "KeyLimits",
    "MessageRecord",
    "NotFound",
    "NotReplaceable",
    "Owner",
    "ResponseRecord",
    "Store",
    "StoreError",
    "ToolCallRecord",
    "UsageDay",
    "UsageRow",
    "database_url",
    "display_url",
    "env_key_owner",
    "new_id",
]
