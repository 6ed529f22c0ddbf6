"""Conversations (subscriptions), posted alert cards and the watcher's view of the list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = UtcDateTime()
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reference", sa.JSON, nullable=False),
        sa.Column("subscribed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", time, nullable=False),
    )
    op.create_table(
        "posted_cards",
        sa.Column(
            "case_id",
            sa.String(36),
            sa.ForeignKey("cases.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("conversation_id", sa.String(512), primary_key=True),
        sa.Column("activity_id", sa.String(256)),
        sa.Column("posted_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", time, nullable=False),
    )
    op.create_table(
        "watched_senders",
        sa.Column("upn", sa.String(320), primary_key=True),
        sa.Column("restricted_since", time),
        sa.Column("first_seen", time, nullable=False),
        sa.Column("last_seen", time, nullable=False),
    )


def downgrade() -> None:
    for table in ("watched_senders", "posted_cards", "conversations"):
        op.drop_table(table)
