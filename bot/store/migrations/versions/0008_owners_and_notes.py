"""Who owns a case, why it ended without a release, and the notes admins add to it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SerialId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(64)))
        batch.add_column(sa.Column("owner_name", sa.String(256)))
        batch.add_column(sa.Column("close_reason", sa.String(32)))
        batch.add_column(sa.Column("close_comment", sa.Text))
    op.create_table(
        "case_notes",
        sa.Column("id", SerialId, primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            sa.String(36),
            sa.ForeignKey("cases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_name", sa.String(256), nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_notes_case_id", table_name="case_notes")
    op.drop_table("case_notes")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("close_comment")
        batch.drop_column("close_reason")
        batch.drop_column("owner_name")
        batch.drop_column("owner_id")
