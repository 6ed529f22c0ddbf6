"""What `/readyz` checks of this replica: the database answers and its schema is current (a
Microsoft outage must not take every replica out of the load balancer)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import current_revision, head_revision
from bot.teams.web import ReadinessCheck


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    """The database answers a query."""

    async def probe() -> bool:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True

    return ReadinessCheck("database", probe)


def schema_check(engine: AsyncEngine) -> ReadinessCheck:
    """The database's schema is the one this version migrates to."""

    async def probe() -> bool:
        return await current_revision(engine) == head_revision()

    return ReadinessCheck("migrations", probe)
