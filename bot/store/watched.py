"""The watcher's view of the restricted list, so a restart does not alert twice; and the
containment policy's run-time switch, in the same table of named values."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.audit import AuditEvent
from bot.store.audit import audit_row
from bot.store.schema import audit_events, watched_senders, watcher_state

BASELINE = "baseline"
LAST_POLL = "last-poll"
CONTAINMENT = "containment-mode"


class WatchedSenders:
    """Who the watcher last saw restricted, and since when."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def baseline_taken(self) -> bool:
        """Whether the first look at the list has been recorded (it raises no alerts)."""
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(watcher_state.c.value).where(watcher_state.c.name == BASELINE)
                )
            ).scalar()
        return found is not None

    async def take_baseline(self, senders: dict[str, datetime | None]) -> bool:
        """Record the list as it is, without alerting; False if another poller did it."""
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    watcher_state.insert().values(
                        name=BASELINE, value=now.isoformat(), updated_at=now
                    )
                )
                for upn, since in senders.items():
                    await conn.execute(
                        watched_senders.insert().values(
                            upn=upn, restricted_since=since, first_seen=now, last_seen=now
                        )
                    )
        except IntegrityError:
            return False
        return True

    async def record_poll(self, when: datetime) -> None:
        """The restricted list was read just now (by whichever replica polls)."""
        await self._put(LAST_POLL, when.isoformat(), when)

    async def containment_mode(self) -> str | None:
        """The containment policy's mode as last switched from Teams (None: never)."""
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(watcher_state.c.value).where(watcher_state.c.name == CONTAINMENT)
                )
            ).scalar()
        return str(found) if found else None

    async def switch_containment(self, mode: str, at: datetime, event: AuditEvent) -> None:
        """Switch the containment policy's mode for every replica, with its audit event in the
        same transaction."""
        row = {"value": mode, "updated_at": at}
        for _ in range(2):  # a concurrent first switch inserts the row: then update it
            try:
                async with self._engine.begin() as conn:
                    done = await conn.execute(
                        watcher_state.update()
                        .where(watcher_state.c.name == CONTAINMENT)
                        .values(**row)
                    )
                    if not done.rowcount:
                        await conn.execute(watcher_state.insert().values(name=CONTAINMENT, **row))
                    await conn.execute(audit_events.insert().values(**audit_row(event)))
                return
            except IntegrityError:
                continue

    async def _put(self, name: str, value: str, at: datetime) -> None:
        """Write one named value (whichever replica writes last wins)."""
        row = {"value": value, "updated_at": at}
        async with self._engine.begin() as conn:
            done = await conn.execute(
                watcher_state.update().where(watcher_state.c.name == name).values(**row)
            )
            if done.rowcount:
                return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(watcher_state.insert().values(name=name, **row))
        except IntegrityError:  # another replica wrote it first: write ours over it
            async with self._engine.begin() as conn:
                await conn.execute(
                    watcher_state.update().where(watcher_state.c.name == name).values(**row)
                )

    async def last_poll(self) -> datetime | None:
        """When any replica last read the restricted list successfully (None: never)."""
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(watcher_state.c.updated_at).where(watcher_state.c.name == LAST_POLL)
                )
            ).scalar()
        if not isinstance(found, datetime):
            return None
        return found if found.tzinfo else found.replace(tzinfo=UTC)

    async def seen(self) -> dict[str, datetime | None]:
        """UPN → restricted-since of everyone in the stored view."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(watched_senders.c.upn, watched_senders.c.restricted_since)
                )
            ).all()
        return {str(r.upn): r.restricted_since for r in rows}

    async def add(self, upn: str, since: datetime | None) -> bool:
        """Record a newly seen restriction; False if another poller recorded it first."""
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    watched_senders.insert().values(
                        upn=upn.lower(), restricted_since=since, first_seen=now, last_seen=now
                    )
                )
        except IntegrityError:
            return False
        return True

    async def replace(self, upn: str, since: datetime | None) -> None:
        """A sender restricted again (a newer restriction under the same UPN)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                watched_senders.update()
                .where(watched_senders.c.upn == upn.lower())
                .values(
                    restricted_since=since,
                    first_seen=datetime.now(UTC),
                    last_seen=datetime.now(UTC),
                )
            )

    async def remove(self, upn: str) -> None:
        """The sender is no longer listed."""
        async with self._engine.begin() as conn:
            await conn.execute(watched_senders.delete().where(watched_senders.c.upn == upn.lower()))
