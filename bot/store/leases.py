"""Leases: a named right held by one process until it expires (poller, live step runners)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import leases


class Leases:
    """Take, renew and inspect leases; the database decides who holds one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def renew(self, name: str, holder: str, seconds: float) -> bool:
        """Take `name` for `seconds` if it is free, expired or already ours."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=seconds)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    leases.insert().values(name=name, holder=holder, expires_at=expires)
                )
            return True
        except IntegrityError:
            pass
        async with self._engine.begin() as conn:
            result = await conn.execute(
                leases.update()
                .where(
                    leases.c.name == name,
                    sa.or_(leases.c.holder == holder, leases.c.expires_at < now),
                )
                .values(holder=holder, expires_at=expires)
            )
        return result.rowcount == 1

    async def holders(self, prefix: str) -> set[str]:
        """Holders of unexpired leases whose name starts with `prefix`."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(leases.c.holder).where(
                    leases.c.name.startswith(prefix), leases.c.expires_at >= datetime.now(UTC)
                )
            )
            return {str(r) for r in rows.scalars()}

    async def give_up(self, name: str, holder: str) -> None:
        """Release `name` if we hold it (clean shutdown)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                leases.delete().where(leases.c.name == name, leases.c.holder == holder)
            )
