"""Who releases a case and how the last attempt ended; when a release was requested; every
message that shows a case (not only one per conversation).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("release_runner", sa.String(128)))
        batch.add_column(sa.Column("release_problem", sa.JSON))
        batch.add_column(sa.Column("released_by", sa.String(64)))
        batch.add_column(sa.Column("released_by_name", sa.String(256)))
        batch.add_column(sa.Column("release_requested_at", UtcDateTime()))
    op.create_table(
        "case_copies",
        sa.Column(
            "case_id",
            sa.String(36),
            sa.ForeignKey("cases.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "conversation_id",
            sa.String(512),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("activity_id", sa.String(256), primary_key=True),
        sa.Column("shown_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO case_copies (case_id, conversation_id, activity_id, shown_version, "
        "updated_at) SELECT p.case_id, p.conversation_id, p.activity_id, p.posted_version, "
        "p.updated_at FROM posted_cards p JOIN conversations c ON c.id = p.conversation_id "
        "WHERE p.activity_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("case_copies")
    with op.batch_alter_table("cases") as batch:
        for column in (
            "release_requested_at",
            "released_by_name",
            "released_by",
            "release_problem",
            "release_runner",
        ):
            batch.drop_column(column)
