"""Keys as tenants: an owner on conversations, responses and usage; admin flag, visible prefix
and limits on keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-01

Who owns the rows that exist already (the README says the same):
- conversations (and so their messages): the no-key tenant, `nokey`. Before 0002 nothing said
  which key made a conversation, so none is guessed: they stay visible on a server running
  without keys, as before, and no key sees them once keys are in force.
- responses and usage: the stored key that made them (`api_key_id`), else `nokey`. (Rows made
  with an LLMRELAY_API_KEYS key before 0002 carry no trace of which key it was: `nokey` too.)
- api_keys: not admin, no limits of their own, no prefix (their secret was never kept).

Only columns are added (SQLite's ALTER TABLE ADD COLUMN, with a server default where the
column is NOT NULL): rebuilding `conversations` or `api_keys` the SQLite way would drop the old
table, and with foreign keys on, that deletes every message (ON DELETE CASCADE) and unlinks all
usage (SET NULL).

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

NO_KEY_OWNER = "nokey"


def _owner() -> sa.Column[str]:
    return sa.Column("owner", sa.String(40), nullable=False, server_default=NO_KEY_OWNER)


def upgrade() -> None:
    op.add_column("conversations", _owner())
    op.create_index("ix_conversations_owner_updated_at", "conversations", ["owner", "updated_at"])

    op.add_column("responses", _owner())
    op.execute("UPDATE responses SET owner = api_key_id WHERE api_key_id IS NOT NULL")

    op.add_column("usage", _owner())
    op.execute("UPDATE usage SET owner = api_key_id WHERE api_key_id IS NOT NULL")
    op.create_index("ix_usage_owner_created_at", "usage", ["owner", "created_at"])

    op.add_column("api_keys", sa.Column("prefix", sa.String(32), nullable=True))
    op.add_column("api_keys", sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    for name in ("rpm", "tpm", "max_streams", "budget_tokens"):
        op.add_column("api_keys", sa.Column(name, sa.Integer(), nullable=True))
    op.add_column(
        "api_keys", sa.Column("budget_period", sa.String(8), nullable=False, server_default="total")
    )


def downgrade() -> None:
    for name in ("budget_period", "budget_tokens", "max_streams", "tpm", "rpm", "is_admin", "prefix"):
        op.drop_column("api_keys", name)
    op.drop_index("ix_usage_owner_created_at", "usage")
    op.drop_column("usage", "owner")
    op.drop_column("responses", "owner")
    op.drop_index("ix_conversations_owner_updated_at", "conversations")
    op.drop_column("conversations", "owner")
