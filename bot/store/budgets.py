"""Microsoft's rate budgets shared by every replica: the reserved send times of each budget in
one row, changed with compare-and-set (see bot/tenant/budgets.py for the rule)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import rate_budgets
from bot.tenant.budgets import MAX_WAIT, Budget, next_slot


class SharedBudgets:
    """Budgets kept in the database (one per tenant, whatever the number of replicas)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def reserve(self, budget: Budget, *, max_wait: float = MAX_WAIT) -> float | None:
        """See bot.tenant.budgets.Budgets.reserve."""
        while True:
            version, sends = await self._read(budget.name)
            now = self._clock()
            slot = next_slot(sends, budget, now)
            if slot - now > max_wait:
                return None
            kept = json.dumps([*sends, slot][-budget.calls :])
            if await self._write(budget.name, version, kept):
                return slot - now

    async def _read(self, name: str) -> tuple[int | None, list[float]]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(rate_budgets.c.version, rate_budgets.c.sends).where(
                        rate_budgets.c.name == name
                    )
                )
            ).first()
        if row is None:
            return None, []
        return int(row.version), [float(s) for s in json.loads(row.sends)]

    async def _write(self, name: str, version: int | None, sends: str) -> bool:
        """Store the new send times if nobody else did since `version` was read."""
        async with self._engine.begin() as conn:
            if version is None:
                try:
                    await conn.execute(
                        rate_budgets.insert().values(name=name, version=1, sends=sends)
                    )
                except IntegrityError:
                    return False
                return True
            result = await conn.execute(
                rate_budgets.update()
                .where(rate_budgets.c.name == name, rate_budgets.c.version == version)
                .values(version=version + 1, sends=sends)
            )
            return result.rowcount == 1
