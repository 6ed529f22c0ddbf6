"""The one change path of a case: load it, let a pure function decide the change, compare-and-set
it with its audit event in one transaction (retried when another writer won), then announce it
so that every copy of the card shows it. Nothing else writes a case.

A change that moves the case's state carries exactly one audit event; `change` refuses one that
does not (a programming error, caught by the workflow tests).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime

from bot.cases.model import Case, CaseState
from bot.cases.outcomes import StepName, StepStatus
from bot.cases.ports import (
    AuditAction,
    AuditLog,
    CaseAnnouncer,
    CaseChange,
    CaseRepository,
    Change,
    Decide,
    Event,
)
from bot.cases.sections import NAMES
from bot.core.clock import Clock
from bot.core.m365 import RestrictedSender
from bot.core.people import Actor
from bot.errors import CaseKeptChanging, DatabaseUnavailable, UnknownCase

log = logging.getLogger(__name__)

SYSTEM = Actor("system", "", "BlockWatch")
ATTEMPTS = 20  # compare-and-set rounds before a change gives up (CaseKeptChanging)
RECORD_WAIT_MAX = 10.0  # seconds between tries to record an outcome while the database is down


@dataclass(frozen=True)
class Changed:
    """A case after `CaseLedger.change`: `done` when this call changed it."""

    case: Case
    done: bool


class CaseLedger:
    """Reads cases and changes them through the one change path."""

    def __init__(
        self,
        repository: CaseRepository,
        audit: AuditLog,
        announcer: CaseAnnouncer,
        clock: Clock,
    ) -> None:
        self._cases = repository
        self._audit = audit
        self._announcer = announcer
        self.now = clock

    # ---- reading --------------------------------------------------------------------------

    async def get(self, case_id: str) -> Case | None:
        """The case with this id."""
        return await self._cases.get(case_id)

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        return await self._cases.open_for(upn)

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        return await self._cases.history(upn)

    async def senders(self, *, open_only: bool, limit: int) -> list[tuple[str, str]]:
        """(UPN, display name) of senders with a case, most recent first."""
        return await self._cases.senders(open_only=open_only, limit=limit)

    async def open_cases(self) -> list[Case]:
        """Every case that is not closed."""
        return await self._cases.open_cases()

    async def running_steps(self) -> list[tuple[str, StepName, str]]:
        """(case id, step, runner) of every running step."""
        return await self._cases.running_steps()

    async def of_ids(self, case_ids: list[str]) -> list[Case]:
        """These cases (three queries whatever their number)."""
        return await self._cases.of_ids(case_ids)

    async def with_work_in_flight(self) -> list[Case]:
        """Cases on which the containment policy's work is in flight (open or not)."""
        return await self._cases.with_work_in_flight()

    # ---- changing -------------------------------------------------------------------------

    async def open_case(self, sender: RestrictedSender) -> Case:
        """The sender's open case, created (and audited with it) if there is none."""
        opened = Event(AuditAction.CASE_OPENED, SYSTEM, "done")
        case, created = await self._cases.open_case(sender, opened, at=self.now())
        if created:
            self._announcer.case_changed(case.id)
        return case

    async def change(self, case_id: str, decide: Decide, *, version: int | None = None) -> Changed:
        """Load the case, decide, compare-and-set with the decision's audit event, announce.
        With `version`, only that version may be changed (a card's click): no retry. Raises
        UnknownCase when there is no such case, CaseKeptChanging when every round lost."""
        for attempt in range(ATTEMPTS):
            case = await self._load(case_id)
            if version is not None and case.version != version:
                return Changed(case, False)
            change = decide(case)
            if change is None:
                return Changed(case, False)
            _check(case, change)
            changed = await self._cases.apply(case, change, at=self.now())
            if changed is not None:
                self._announcer.case_changed(case_id)
                return Changed(changed, True)
            if version is not None:
                return Changed(await self._load(case_id), False)
            await asyncio.sleep(random.uniform(0, 0.005 * attempt))  # noqa: S311 - jitter only
        log.warning("a change lost every compare-and-set round", extra={"case": case_id})
        raise CaseKeptChanging(f"case {case_id} kept changing")

    async def record_outcome(self, case_id: str, decide: Decide) -> Changed:
        """`change` for an outcome that happened (Microsoft did it, or refused): the outcome
        must not be lost, so a database that does not answer (or a case that keeps changing)
        is tried again, waiting longer each time (at most RECORD_WAIT_MAX seconds), for as long
        as this process lives."""
        wait = 0.5
        while True:
            try:
                return await self.change(case_id, decide)
            except (DatabaseUnavailable, CaseKeptChanging) as err:
                log.warning(
                    "could not record an outcome yet; trying again",
                    extra={"case": case_id, "error": str(err), "seconds": wait},
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, RECORD_WAIT_MAX)

    async def settle(self, case_id: str) -> Case:
        """Move an open case to the state its steps and evidence say (`settling`)."""
        return (await self.change(case_id, settling)).case

    async def record(self, case: Case, event: Event) -> None:
        """Audit an event that changes nothing (a refusal, the start of a batch of steps)."""
        await self._audit.record(event.about(case, self.now()))

    async def purge(self, before: datetime) -> tuple[int, int]:
        """Retention: delete closed cases and audit events older than `before`."""
        return await self._cases.purge_closed(before), await self._audit.purge(before)

    async def _load(self, case_id: str) -> Case:
        case = await self._cases.get(case_id)
        if case is None:
            raise UnknownCase("no such case")
        return case


def _check(case: Case, change: Change) -> None:
    """A state change carries exactly one audit event."""
    if change.state is not None and change.state is not case.state and change.event is None:
        raise ValueError(f"moving a case to {change.state} needs an audit event")


def settled_state(case: Case) -> CaseState:
    """The state an open case's steps and evidence say it is in: ready to release when steps
    1-4 are settled and the evidence they act on was read; else investigated (evidence read, no
    step started yet) or remediating."""
    if case.release_ready:
        return CaseState.READY
    if case.state is CaseState.READY:
        return CaseState.REMEDIATING
    if case.state is CaseState.INVESTIGATING and case.evidence is not None:
        if case.evidence.unasked(NAMES):  # a wave's first reads: the rest is on its way
            return case.state
        started = any(s.status is not StepStatus.NOT_RUN for s in case.steps.values())
        return CaseState.REMEDIATING if started else CaseState.INVESTIGATED
    return case.state


def settling(case: Case) -> Change | None:
    """The change that settles an open case (None when it is where it should be)."""
    if not case.is_open or (wanted := settled_state(case)) is case.state:
        return None
    if wanted is CaseState.READY:
        action = AuditAction.CASE_READY
    elif case.state is CaseState.READY:
        action = AuditAction.CASE_NOT_READY
    else:
        action = AuditAction.CASE_SETTLED
    return Change(Event(action, SYSTEM, "done"), CaseChange(state=wanted))
