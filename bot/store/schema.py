"""The tables. Changing them needs an Alembic migration in bot/store/migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store UTC (naive on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Time = UtcDateTime()
# A growing row id: BIGINT on PostgreSQL, INTEGER on SQLite (its only autoincrement type).
SerialId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("upn", sa.String(320), nullable=False, index=True),
    sa.Column("display_name", sa.String(256)),
    sa.Column("user_id", sa.String(64)),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("restricted_since", Time),
    sa.Column("opened_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("closed_at", Time),
    sa.Column("previous_case_id", sa.String(36), sa.ForeignKey("cases.id")),
    sa.Column("release_requested_by", sa.String(64)),
    sa.Column("release_requested_name", sa.String(256)),
    sa.Column("override_reason", sa.Text),
    sa.Column("released_at", Time),
    sa.Column("evidence", sa.JSON),
    sa.Column("evidence_at", Time),
    sa.Column("release_runner", sa.String(128)),
    sa.Column("release_problem", sa.JSON),
    sa.Column("released_by", sa.String(64)),
    sa.Column("released_by_name", sa.String(256)),
    sa.Column("release_requested_at", Time),
    sa.Column("owner_id", sa.String(64)),
    sa.Column("owner_name", sa.String(256)),
    sa.Column("close_reason", sa.String(32)),
    sa.Column("close_comment", sa.Text),
    sa.Column("containment", sa.JSON),
    # The process doing the containment policy's work on the case (None: nothing in flight).
    sa.Column("containment_runner", sa.String(128), index=True),
)
# At most one open case per sender: a second "open" loses the race on this index.
sa.Index(
    "uq_cases_open_upn",
    cases.c.upn,
    unique=True,
    sqlite_where=cases.c.closed_at.is_(None),
    postgresql_where=cases.c.closed_at.is_(None),
)

case_steps = sa.Table(
    "case_steps",
    metadata,
    sa.Column(
        "case_id", sa.String(36), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("step", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("undo", sa.JSON),
    sa.Column("actor_id", sa.String(64)),
    sa.Column("actor_name", sa.String(256)),
    sa.Column("runner", sa.String(64)),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", Time),
    sa.Column("finished_at", Time),
)

# Notes admins add to a case (shown on its card newest first, and audited).
case_notes = sa.Table(
    "case_notes",
    metadata,
    sa.Column("id", SerialId, primary_key=True, autoincrement=True),
    sa.Column(
        "case_id",
        sa.String(36),
        sa.ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", Time, nullable=False),
    sa.Column("author_id", sa.String(64), nullable=False),
    sa.Column("author_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("text", sa.Text, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", SerialId, primary_key=True, autoincrement=True),
    sa.Column("at", Time, nullable=False, index=True),
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

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reference", sa.JSON, nullable=False),
    sa.Column("subscribed", sa.Boolean, nullable=False, server_default=sa.false()),
    # The language "alerts on" was asked in: alerts come in it (empty: the client's locale).
    sa.Column("alert_lang", sa.String(8), nullable=False, server_default=""),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", Time, nullable=False),
)

posted_cards = sa.Table(
    "posted_cards",
    metadata,
    sa.Column(
        "case_id", sa.String(36), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("conversation_id", sa.String(512), primary_key=True),
    sa.Column("activity_id", sa.String(256)),
    sa.Column("posted_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", Time, nullable=False),
)

# A case card being posted to a conversation: one row per (case, conversation), so one of any
# number of Open clicks, on any replica, posts it; `until` frees a claim whose post never came.
card_claims = sa.Table(
    "card_claims",
    metadata,
    sa.Column(
        "case_id", sa.String(36), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("conversation_id", sa.String(512), primary_key=True),
    sa.Column("until", Time, nullable=False),
)

# Every message that shows a case's card (a reply, an alert, a refreshed copy), so every change
# reaches every copy. posted_cards above is the alert queue (a row without a message id is due).
case_copies = sa.Table(
    "case_copies",
    metadata,
    sa.Column(
        "case_id", sa.String(36), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "conversation_id",
        sa.String(512),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("activity_id", sa.String(256), primary_key=True),
    sa.Column("shown_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", Time, nullable=False),
    # The language the message was posted in (a Dutch command in an English client gets a
    # Dutch card, and its redraws stay Dutch); empty: the conversation's locale.
    sa.Column("lang", sa.String(8), nullable=False, server_default=""),
)

watched_senders = sa.Table(
    "watched_senders",
    metadata,
    sa.Column("upn", sa.String(320), primary_key=True),
    sa.Column("restricted_since", Time),
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("last_seen", Time, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)

watcher_state = sa.Table(
    "watcher_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

pending_digests = sa.Table(
    "pending_digests",
    metadata,
    sa.Column("id", SerialId, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id",
        sa.String(512),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("case_ids", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("wave_id", sa.String(36)),  # the wave whose card this is (none: a plain digest)
)

# Many restrictions within the hour, handled as one incident (bot/cases/waves.py).
waves = sa.Table(
    "waves",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("opened_at", Time, nullable=False, index=True),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("case_ids", sa.JSON, nullable=False),
    sa.Column("bulk", sa.JSON),
    sa.Column("bulk_running", sa.Boolean, nullable=False, server_default=sa.false()),
)
# Where a wave's card was posted, so every copy is kept true.
wave_copies = sa.Table(
    "wave_copies",
    metadata,
    sa.Column(
        "wave_id", sa.String(36), sa.ForeignKey("waves.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("conversation_id", sa.String(512), primary_key=True),
    sa.Column("activity_id", sa.String(256), nullable=False),
    sa.Column("lang", sa.String(8), nullable=False, server_default=""),
    sa.Column("shown", sa.String(64), nullable=False, server_default=""),  # what it shows
    sa.Column("updated_at", Time, nullable=False),
)

# Microsoft's per-API rate budgets (bot/tenant/budgets.py): the send times reserved in the window.
rate_budgets = sa.Table(
    "rate_budgets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("sends", sa.Text, nullable=False),
)
