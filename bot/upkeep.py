"""The upkeep loop every replica runs: its runner lease, work whose owner is gone, card copies
to catch up, foreign-tenant tallies and retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from bot.cases.bulk import Bulk
from bot.cases.service import CaseService
from bot.chat.foreign import ForeignRefusals
from bot.chat.views import CaseViews
from bot.chat.waves import WaveViews
from bot.core.clock import Clock
from bot.settings import Settings

log = logging.getLogger(__name__)


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when shutdown begins."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


async def upkeep_loop(
    cases: CaseService,
    views: CaseViews,
    foreign: ForeignRefusals,
    settings: Settings,
    stopping: asyncio.Event,
    clock: Clock,
    bulk: Bulk | None = None,
    waves: WaveViews | None = None,
) -> None:
    """Renew this process's lease, give dead runners' work its way out, catch up card copies,
    write the foreign-tenant tallies whose window ended, purge expired history; at the end,
    write every tally left."""
    last_purge: datetime | None = None
    while not stopping.is_set():
        try:
            now = clock()
            runner_left = await cases.upkeep(now)
            if bulk is not None:
                await bulk.upkeep()
            if waves is not None:
                await waves.catch_up()
            await views.catch_up(now, at_once=runner_left)
            await foreign.flush()
            if last_purge is None or now - last_purge > timedelta(hours=24):
                last_purge = now
                cutoff = now - timedelta(days=settings.audit_retention_days)
                closed, events = await cases.purge(cutoff)
                if closed or events:
                    log.info("retention purge", extra={"cases": closed, "events": events})
        except Exception:
            log.exception("upkeep failed; trying again")
        await pause(stopping, max(0.5, settings.runner_lease_seconds / 3))
    try:
        await foreign.flush(everything=True)
    except Exception:
        log.exception("could not write the foreign-tenant refusals at shutdown")


async def stop_task(task: asyncio.Task[None], stopping: asyncio.Event | None = None) -> None:
    """Ask a loop to stop between rounds (cancelling it mid-query can wedge a database
    connection); cancel only if it does not stop within a few seconds."""
    if stopping is not None:
        stopping.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
