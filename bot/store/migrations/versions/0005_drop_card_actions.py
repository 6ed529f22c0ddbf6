"""Drop `card_actions`: nothing ever wrote to it (every action is claimed on the case itself).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("card_actions")


def downgrade() -> None:
    op.create_table(
        "card_actions",
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("case_id", sa.String(36)),
        sa.Column("verb", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
