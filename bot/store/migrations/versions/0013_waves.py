"""Waves: many restrictions within the hour as one incident, its card's copies, and the queued
wave cards (a digest now names its wave).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import Time

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waves",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("opened_at", Time, nullable=False, index=True),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("case_ids", sa.JSON, nullable=False),
        sa.Column("bulk", sa.JSON),
        sa.Column("bulk_running", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "wave_copies",
        sa.Column(
            "wave_id",
            sa.String(36),
            sa.ForeignKey("waves.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("conversation_id", sa.String(512), primary_key=True),
        sa.Column("activity_id", sa.String(256), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False, server_default=""),
        sa.Column("shown", sa.String(64), nullable=False, server_default=""),
        sa.Column("updated_at", Time, nullable=False),
    )
    with op.batch_alter_table("pending_digests") as batch:
        batch.add_column(sa.Column("wave_id", sa.String(36)))


def downgrade() -> None:
    with op.batch_alter_table("pending_digests") as batch:
        batch.drop_column("wave_id")
    op.drop_table("wave_copies")
    op.drop_table("waves")
