"""What the automatic containment policy decided about a case, and the process doing its work.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("containment", sa.JSON))
        batch.add_column(sa.Column("containment_runner", sa.String(128)))
    op.create_index("ix_cases_containment_runner", "cases", ["containment_runner"])


def downgrade() -> None:
    op.drop_index("ix_cases_containment_runner", "cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("containment_runner")
        batch.drop_column("containment")
