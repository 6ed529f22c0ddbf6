"""The append-only audit trail: who did what, to whom, when, with what result.

The application only inserts; database triggers refuse UPDATE, and DELETE of anything younger
than 30 days (the floor of AUDIT_RETENTION_DAYS), so nothing in the bot can rewrite history.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.audit import AuditEvent, AuditValue, Parameters
from bot.logs import correlation_id, redact
from bot.store.schema import audit_events
from bot.untrusted import clean

log = logging.getLogger(__name__)

# Parameter names that must never reach the trail, whatever a caller passes.
_SECRET_KEYS = ("password", "secret", "token", "assertion", "authorization")


def _clean(parameters: Parameters) -> dict[str, AuditValue]:
    return {
        k: ("[redacted]" if any(s in k.lower() for s in _SECRET_KEYS) else v)
        for k, v in parameters.items()
    }


def audit_row(event: AuditEvent) -> dict[str, object]:
    """The event as a row: text in its normal form, cut to the column sizes (which bound what
    untrusted activity fields can write), secrets redacted."""
    return {
        "at": event.at or datetime.now(UTC),
        "actor_id": clean(event.actor_id)[:64],
        "actor_name": clean(event.actor_name)[:256],
        "action": clean(event.action)[:64],
        "target": clean(event.target)[:320],
        "case_id": event.case_id,
        "parameters": {
            clean(k): clean(v) if isinstance(v, str) else v
            for k, v in _clean(event.parameters).items()
        },
        "result": clean(event.result)[:32],
        "detail": redact(clean(event.detail))[:2000],
        "correlation_id": clean(event.correlation or correlation_id.get())[:128],
    }


class AuditTrail:
    """Appends and reads audit events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, event: AuditEvent) -> None:
        """Append one event (secrets in parameters or detail are redacted first). When the
        database refuses it, the whole event goes to the log before the error is raised, so an
        event is never lost silently."""
        row = audit_row(event)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(audit_events.insert().values(**row))
        except Exception:
            kept = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            log.exception("audit write failed", extra={"audit_event": kept})
            raise

    async def events(
        self,
        *,
        since: datetime | None = None,
        case_id: str | None = None,
        target: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Events, oldest first, filtered by time, case or target."""
        query = sa.select(audit_events).order_by(audit_events.c.id)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if case_id is not None:
            query = query.where(audit_events.c.case_id == case_id)
        if target is not None:
            query = query.where(audit_events.c.target == target.lower())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [
            AuditEvent(
                r.actor_id,
                r.actor_name,
                r.action,
                r.target,
                r.result,
                r.case_id,
                r.parameters or {},
                r.detail,
                r.at,
                r.correlation_id,
            )
            for r in rows
        ]

    async def purge(self, before: datetime) -> int:
        """Delete events older than `before` (retention; the database refuses recent ones)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(audit_events.delete().where(audit_events.c.at < before))
        return int(result.rowcount or 0)


COLUMNS = (
    "time",
    "actor_id",
    "actor",
    "action",
    "target",
    "case",
    "result",
    "detail",
    "parameters",
    "correlation_id",
)
# A spreadsheet runs a cell that starts with one of these (OWASP, "CSV Injection").
_FORMULA = re.compile(r"""(?<![^,;\r\n])([ "']*)([=+\-@\t\r])""")


def cell(value: str) -> str:
    """`value` safe in a spreadsheet cell: a formula character at its start, or after a `,`, `;`
    or line break (where a spreadsheet splitting on the other separator would start a cell or
    a row), is preceded by `'` (shown, not run)."""
    return _FORMULA.sub(lambda m: f"{m[1]}'{m[2]}", value)


def to_csv(events: list[AuditEvent]) -> str:
    """The events as CSV (for export before purge, or the admin's download): every field quoted
    and made safe for spreadsheets by `cell`, whichever separator the spreadsheet splits on."""
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\r\n")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    for e in events:
        row = [
            e.at.isoformat() if e.at else "",
            e.actor_id,
            e.actor_name,
            e.action,
            e.target,
            e.case_id or "",
            e.result,
            e.detail,
            ";".join(f"{k}={v}" for k, v in sorted(e.parameters.items())),
            e.correlation,
        ]
        writer.writerow([cell(value) for value in row])
    return out.getvalue()
