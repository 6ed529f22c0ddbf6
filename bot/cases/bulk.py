"""A wave's bulk actions: one confirmation and one click act on every case they apply to, one
case at a time, through the case workflow — so each case's own rules decide (its release
gate, four-eyes, the containment policy's rules and exclusions), each case's audit events
carry the bulk action's id, and a case that fails never stops the others (it is listed with
the reason). The bulk action is recorded on the wave (compare-and-set) with how each case
ended, names the process carrying it out, and upkeep ends it visibly when that one is gone.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

from bot import errors
from bot.cases.background import Background
from bot.cases.model import Notice
from bot.cases.outcomes import StepStatus
from bot.cases.ports import AuditAction, Event, RunnerLeases
from bot.cases.service import CaseService
from bot.cases.waves import (
    BulkAction,
    BulkKind,
    Outcome,
    Result,
    Wave,
    WaveRepository,
    applies,
)
from bot.core.people import Actor
from bot.logs import correlation_id

log = logging.getLogger(__name__)
RELEASE_RESULTS = {
    Notice.RELEASING: Result.DONE,
    Notice.APPROVAL_NEEDED: Result.REQUESTED,
    Notice.STALE: Result.MOVED_ON,
    Notice.CLOSED: Result.MOVED_ON,
}


class Bulk:
    """Starts, carries out and records a wave's bulk actions."""

    def __init__(
        self,
        waves: WaveRepository,
        cases: CaseService,
        leases: RunnerLeases,
        background: Background,
        *,
        runner: str,
        announce: Callable[[str], None] = lambda _wave_id: None,
    ) -> None:
        self._announce = announce  # the wave changed: redraw its card
        self._waves = waves
        self._cases = cases
        self._leases = leases
        self._background = background
        self.runner = runner
        self.running: set[str] = set()  # bulk action ids this process carries out
        self._now = cases.now

    async def start(
        self, wave_id: str, version: int, kind: BulkKind, actor: Actor
    ) -> tuple[Wave, Notice | None]:
        """Start `kind` on every case of the wave it applies to (one at a time, in the
        background); a stale card, a bulk action still running or nothing to act on says so."""
        wave = await self._waves.get(wave_id)
        if wave is None:
            raise errors.UnknownCase("no such wave")
        if wave.version != version:
            return wave, Notice.STALE
        if wave.bulk is not None and wave.bulk.running:
            return wave, Notice.BULK_RUNNING
        cases = await self._cases.of_ids(list(wave.case_ids))
        targets = tuple(c.id for c in cases if applies(kind, c))
        if not targets:
            return wave, Notice.NOTHING_TO_DO
        bulk = BulkAction(
            str(uuid.uuid4()), kind, actor.name, self._now(), targets, runner=self.runner
        )
        self.running.add(bulk.id)  # before it is written: upkeep must never take it for dead
        started = await self._waves.set_bulk(wave, bulk, self._now())
        if started is None:
            self.running.discard(bulk.id)
            return await self._waves.get(wave_id) or wave, Notice.STALE
        if not self._background.spawn(self._run(wave_id, bulk, actor), f"bulk:{bulk.id}"):
            self.running.discard(bulk.id)  # stopping: upkeep elsewhere ends it
        return started, None

    async def _run(self, wave_id: str, bulk: BulkAction, actor: Actor) -> None:
        stopped = True
        try:
            for case_id in bulk.targets:
                wave = await self._waves.get(wave_id)
                current = wave.bulk if wave is not None else None
                ours = current is not None and current.id == bulk.id and current.running
                if not ours or not self._background.accepting:
                    return  # ended elsewhere (taken for gone), or stopping: act on no more
                outcome = await self._one(bulk, case_id, actor)
                await self._record(wave_id, bulk.id, _adding(outcome))
            stopped = False
        except Exception:
            log.exception("a bulk action stopped", extra={"wave": wave_id})
        finally:
            try:
                ended = partial(_finished, now=self._now(), stopped=stopped)
                await self._record(wave_id, bulk.id, ended)
            finally:
                self.running.discard(bulk.id)

    async def _one(self, bulk: BulkAction, case_id: str, actor: Actor) -> Outcome:
        """Act on one case; whatever happens, an outcome (never an exception)."""
        try:
            case = await self._cases.get(case_id)
            if case is None or not applies(bulk.kind, case):
                return Outcome(case_id, Result.MOVED_ON)
            if bulk.kind is BulkKind.CONTAIN:
                result = await self._cases.containment.contain_now(case_id, actor, bulk.id)
                after = await self._cases.get(case_id)
                failed = [
                    step.detail.problem
                    for name, step in (after.steps.items() if after else ())
                    if step.status is StepStatus.FAILED and step.detail and step.detail.problem
                ]
                if result is Result.DONE and failed:
                    return Outcome(case_id, Result.FAILED, failed[0])
                return Outcome(case_id, result)
            said = Event(AuditAction.BULK_ACTION, actor, bulk.kind.value, None, {"bulk": bulk.id})
            await self._cases.record(case, said)
            if bulk.kind is BulkKind.RELEASE:
                answer = await self._cases.release(case.id, case.version, actor)
                said_back = answer.notice
                found = RELEASE_RESULTS.get(said_back) if said_back else None
                return Outcome(case_id, found or Result.NOT_READY)
            answer = await self._cases.take(case.id, actor, reassign=False)
            return Outcome(case_id, Result.DONE if answer.notice is None else Result.MOVED_ON)
        except errors.BlockWatchError as err:
            return Outcome(case_id, Result.FAILED, errors.problem_of(err))
        except Exception:
            log.exception("a bulk action failed on a case", extra={"case": case_id})
            return Outcome(case_id, Result.FAILED, errors.unexpected(correlation_id.get()))

    async def _record(
        self, wave_id: str, bulk_id: str, change: Callable[[BulkAction], BulkAction]
    ) -> None:
        """Write `change` of the wave's bulk action `bulk_id` (compare-and-set, retried)."""
        for _ in range(50):
            wave = await self._waves.get(wave_id)
            if wave is None or wave.bulk is None or wave.bulk.id != bulk_id:
                return
            if await self._waves.set_bulk(wave, change(wave.bulk), self._now()) is not None:
                self._announce(wave_id)
                return
        log.warning("could not record a bulk action's progress", extra={"wave": wave_id})

    async def upkeep(self) -> None:
        """End the bulk actions whose process is gone (or is this one, with nothing running
        them): stopped, the cases not reached listed as not acted on."""
        alive = await self._leases.holders("runner:")
        for wave in await self._waves.running_bulk():
            bulk = wave.bulk
            if bulk is None:
                continue
            mine = bulk.runner == self.runner
            if (mine and bulk.id in self.running) or (not mine and bulk.runner in alive):
                continue
            ended = partial(_finished, now=self._now(), stopped=True)
            await self._record(wave.id, bulk.id, ended)


def _adding(outcome: Outcome) -> Callable[[BulkAction], BulkAction]:
    def add(bulk: BulkAction) -> BulkAction:
        others = tuple(o for o in bulk.outcomes if o.case_id != outcome.case_id)
        return dataclasses.replace(bulk, outcomes=(*others, outcome))

    return add


def _finished(bulk: BulkAction, *, now: datetime, stopped: bool = False) -> BulkAction:
    """Ended: every case it did not reach is listed as such."""
    if bulk.finished_at is not None:
        return bulk
    reached = {o.case_id for o in bulk.outcomes}
    missed = tuple(Outcome(i, Result.NOT_REACHED) for i in bulk.targets if i not in reached)
    return dataclasses.replace(
        bulk, finished_at=now, stopped=stopped or bool(missed), outcomes=bulk.outcomes + missed
    )
