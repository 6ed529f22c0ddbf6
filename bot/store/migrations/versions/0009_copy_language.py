"""Each copy of a case card remembers the language it was posted in, and each conversation
the language its alerts were asked for in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_copies") as batch:
        batch.add_column(sa.Column("lang", sa.String(8), nullable=False, server_default=""))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("alert_lang", sa.String(8), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("alert_lang")
    with op.batch_alter_table("case_copies") as batch:
        batch.drop_column("lang")
