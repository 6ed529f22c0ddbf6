"""Cases, checklist steps, the append-only audit trail, leases and card-action keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_SQLITE = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    # Deleting is allowed only past the 30-day floor of AUDIT_RETENTION_DAYS (the purge).
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       WHEN OLD.at > datetime('now', '-30 days')
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
]
APPEND_ONLY_POSTGRES = [
    """CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' AND OLD.at < now() - interval '30 days' THEN RETURN OLD; END IF;
         RAISE EXCEPTION 'audit events are append-only';
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
]


def upgrade() -> None:
    time = UtcDateTime()
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("upn", sa.String(320), nullable=False, index=True),
        sa.Column("display_name", sa.String(256)),
        sa.Column("user_id", sa.String(64)),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("restricted_since", time),
        sa.Column("opened_at", time, nullable=False),
        sa.Column("updated_at", time, nullable=False),
        sa.Column("closed_at", time),
        sa.Column("previous_case_id", sa.String(36), sa.ForeignKey("cases.id")),
        sa.Column("release_requested_by", sa.String(64)),
        sa.Column("release_requested_name", sa.String(256)),
        sa.Column("override_reason", sa.Text),
        sa.Column("released_at", time),
        sa.Column("evidence", sa.JSON),
        sa.Column("evidence_at", time),
    )
    op.create_index(
        "uq_cases_open_upn",
        "cases",
        ["upn"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_table(
        "case_steps",
        sa.Column(
            "case_id",
            sa.String(36),
            sa.ForeignKey("cases.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("step", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("undo", sa.JSON),
        sa.Column("actor_id", sa.String(64)),
        sa.Column("actor_name", sa.String(256)),
        sa.Column("runner", sa.String(64)),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", time),
        sa.Column("finished_at", time),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", time, nullable=False, index=True),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(256), nullable=False, server_default=""),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(320), nullable=False, server_default=""),
        sa.Column("case_id", sa.String(36), index=True),
        sa.Column("parameters", sa.JSON),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("correlation_id", sa.String(128), nullable=False, server_default=""),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", time, nullable=False),
    )
    op.create_table(
        "card_actions",
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("case_id", sa.String(36)),
        sa.Column("verb", sa.String(64), nullable=False),
        sa.Column("at", time, nullable=False),
    )
    statements = (
        APPEND_ONLY_POSTGRES if op.get_bind().dialect.name == "postgresql" else APPEND_ONLY_SQLITE
    )
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for table in ("card_actions", "leases", "audit_events", "case_steps", "cases"):
        op.drop_table(table)
