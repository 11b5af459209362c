"""Messages beyond text: a user's images and an answer's tool calls, as JSON (store/parts.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-04-01

Two nullable columns added; every existing row reads as plain text (NULL: no images, no calls).
Written by hand and frozen, like 0001 and 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("images", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("tool_calls", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "tool_calls")
    op.drop_column("messages", "images")
