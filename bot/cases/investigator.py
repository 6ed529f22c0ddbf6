"""Runs investigations and records what they (and the steps) read on the case.

An investigation reads every section concurrently. What it could not read for a passing reason
(throttled, an outage, busy) is read again in the background, waiting longer each time, until it
is read or the case closes; the cards fill in as it is. Sections a step reads fresh are recorded
the same way, so the evidence on the card is always the latest read.

Investigations (from Open clicks, alerts and digests, start-up and reading again) take turns:
at most INVESTIGATIONS_AT_ONCE run in a replica, the rest wait in order with their case showing
"investigating". A click on a case already being investigated joins it (the case's state
says so, across replicas). So a crowd of clicks cannot make BlockWatch hammer the tenant or
starve the calls an admin is waiting for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot import errors, metrics
from bot.cases.background import Background
from bot.cases.evidence import Evidence, Section, SectionName
from bot.cases.ledger import SYSTEM, CaseLedger, settled_state
from bot.cases.model import Case, CaseState
from bot.cases.ports import AuditAction, CaseChange, Change, Event
from bot.cases.sections import NAMES, Subject, investigate, read_section
from bot.cases.tenant_ports import TenantReads
from bot.core.people import Actor
from bot.errors import Problem
from bot.logs import correlation_id

log = logging.getLogger(__name__)

MAX_REREAD_WAIT = 600.0  # seconds between reads of evidence that could not be read, at most
BUSY_WAIT = 11.0  # a budget window (5 calls per 10 s): a busy section's turn can be free again


@dataclass
class InvestigationLoad:
    """Investigations in this replica: running now, waiting for a turn, the most that ran."""

    at_once: int
    running: int = 0
    waiting: int = 0
    peak: int = 0


@dataclass(frozen=True)
class Reading:
    """Whose evidence is read and where from, for one case."""

    case_id: str
    subject: Subject


class Investigator:
    """Investigations, single-section reads and reading again what could not be read."""

    def __init__(
        self,
        ledger: CaseLedger,
        tenant: TenantReads,
        background: Background,
        *,
        internal_domains: frozenset[str],
        retry_seconds: float,
        at_once: int = 4,
    ) -> None:
        self.load = InvestigationLoad(at_once)
        self._turns = asyncio.Semaphore(at_once)
        self._ledger = ledger
        self._tenant = tenant
        self._background = background
        self._domains = internal_domains
        self._retry_seconds = retry_seconds
        self._after_read: list[Callable[[str], Awaitable[None]]] = []

    def when_read(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call `listener` with the case id after an investigation (or a read again) recorded
        its evidence (the containment policy decides then)."""
        self._after_read.append(listener)

    async def _read_done(self, case_id: str) -> None:
        for listener in self._after_read:
            try:
                await listener(case_id)
            except Exception:  # its own work ends visibly; the investigation is recorded
                log.exception("acting on read evidence failed", extra={"case": case_id})

    async def start(self, case: Case, actor: Actor, *, first: tuple[SectionName, ...] = ()) -> Case:
        """Start the investigation unless it ran or runs (one winner across replicas); with
        `first` (a wave's: what containment needs), those sections are read first, for every
        such case, before any of them reads the rest."""
        if case.evidence is not None or case.state is not CaseState.RESTRICTED:
            return case

        def claim(current: Case) -> Change | None:
            if current.evidence is not None or current.state is not CaseState.RESTRICTED:
                return None
            started = Event(AuditAction.INVESTIGATION_STARTED, actor, "running")
            return Change(started, CaseChange(state=CaseState.INVESTIGATING))

        claimed = await self._ledger.change(case.id, claim)
        if claimed.done:
            self.spawn(case.id, first)
        return claimed.case

    def spawn(self, case_id: str, first: tuple[SectionName, ...] = ()) -> None:
        """Investigate in the background (also what a restart finds unfinished)."""
        self._background.spawn(self._investigate(case_id, first), f"investigate:{case_id}")

    async def reader(self, case: Case) -> Reading:
        """How to read this case's evidence (looking the directory id up once if needed)."""
        user_id = case.user_id
        if user_id is None:
            user = await self._tenant.user(case.upn)
            named = CaseChange(user_id=user.id, display_name=user.display_name)
            await self._ledger.change(case.id, lambda _: Change(fields=named))
            user_id = user.id
        domains = self._domains | {case.upn.rsplit("@", 1)[-1].lower()}
        return Reading(case.id, Subject(case.upn, user_id, domains))

    async def read(self, reading: Reading, name: SectionName) -> Section:
        """One section, read now and recorded on the case (a failed read does not replace an
        earlier successful one: the card keeps what was last seen, the step still fails)."""
        section = await read_section(name, reading.subject, self._tenant, self._ledger.now())
        await self.record(reading.case_id, (section,), keep_reads=not section.read)
        return section

    async def record(
        self,
        case_id: str,
        sections: tuple[Section, ...],
        *,
        failure: Problem | None = None,
        keep_reads: bool = False,
        finished: str | None = None,
    ) -> Case:
        """Merge freshly read sections into the case's evidence (compare-and-set, retried on a
        concurrent change). With `keep_reads`, a section already read stays: a step's own read
        is newer than an investigation that started before it. `finished` ends an
        investigation with that result: the case settles and the end is audited with it."""
        now = self._ledger.now()

        def merge(case: Case) -> Change:
            evidence = case.evidence or Evidence(now)
            if failure is not None:
                evidence = dataclasses.replace(evidence, failure=failure)
            for section in sections:
                current = evidence.section(section.name)
                if not (keep_reads and current is not None and current.read):
                    evidence = evidence.with_section(section, now)
            merged = dataclasses.replace(case, evidence=evidence)
            fields = CaseChange(evidence=evidence)
            if finished is None:
                return Change(fields=fields)
            if merged.is_open:
                fields["state"] = settled_state(merged)
            ended = Event(AuditAction.INVESTIGATION_FINISHED, SYSTEM, finished)
            return Change(ended, fields)

        if finished is not None:
            return (await self._ledger.record_outcome(case_id, merge)).case
        return (await self._ledger.change(case_id, merge)).case

    def read_again_later(self, case: Case) -> None:
        """Read the sections that failed for a passing reason again, in the background."""
        if case.is_open and case.evidence is not None and case.evidence.retryable:
            name = f"reread:{case.id}"
            self._background.spawn(self._read_again(case.id), name, daemon=True)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """One of the replica's investigation turns, waiting in order for it."""
        load = self.load
        load.waiting += 1
        self._measure()
        try:
            await self._turns.acquire()
        finally:
            load.waiting -= 1
        load.running += 1
        load.peak = max(load.peak, load.running)
        self._measure()
        try:
            yield
        finally:
            load.running -= 1
            self._turns.release()
            self._measure()

    def _measure(self) -> None:
        metrics.INVESTIGATIONS.labels("running").set(self.load.running)
        metrics.INVESTIGATIONS.labels("waiting").set(self.load.waiting)

    async def _investigate(self, case_id: str, first: tuple[SectionName, ...] = ()) -> None:
        """With `first`, those sections in a turn of their own, then the rest in another:
        turns are given in order, so a wave's first reads (spawned together) come before any
        case's budgeted rest, and no case waits for another's."""
        if first:
            async with self._turn():
                await self._read_first(case_id, first)
        async with self._turn():
            await self._investigate_now(case_id)

    async def _read_first(self, case_id: str, names: tuple[SectionName, ...]) -> None:
        """Read `names` and record them (the investigation goes on): the containment policy
        can act on them before the budgeted sections of a whole wave are read. Whatever goes
        wrong here, the investigation reads them again with the rest."""
        try:
            case = await self._ledger.get(case_id)
            if case is None:
                return
            reading = await self.reader(case)
            sections = await investigate(reading.subject, self._tenant, self._ledger.now(), names)
            await self.record(case_id, sections, keep_reads=True)
        except Exception as err:
            log.info("first evidence not read", extra={"case": case_id, "error": repr(err)})
            return
        await self._read_done(case_id)

    async def _investigate_now(self, case_id: str) -> None:
        case = await self._ledger.get(case_id)
        if case is None:
            return
        names = case.evidence.unasked(NAMES) if case.evidence is not None else NAMES
        sections: tuple[Section, ...] = ()
        failure, result = None, "done"
        try:
            reading = await self.reader(case)
            sections = await investigate(reading.subject, self._tenant, self._ledger.now(), names)
        except errors.BlockWatchError as err:
            failure, result = errors.problem_of(err), "failed"
        except Exception:
            log.exception("investigation failed unexpectedly", extra={"case": case_id})
            failure, result = errors.unexpected(correlation_id.get()), "failed"
        # What was read is recorded however long the database takes to answer again.
        done = await self.record(
            case_id, sections, failure=failure, keep_reads=True, finished=result
        )
        self.read_again_later(done)
        await self._read_done(case_id)

    async def _read_again(self, case_id: str) -> None:
        """Read again what could not be read, until it is or the case closes. A section held
        back only for its turn within Microsoft's budget (busy) is asked again within one
        budget window (a wave's investigations then finish close to the floor the budgets
        set); anything else waits twice as long each time."""
        wait, backoff = self._retry_seconds, 0
        while True:
            await asyncio.sleep(wait)
            case = await self._ledger.get(case_id)
            if case is None or not case.is_open or case.evidence is None:
                return
            names = case.evidence.retryable
            if not names:
                return
            try:
                async with self._turn():
                    reading = await self.reader(case)
                    sections = await investigate(
                        reading.subject, self._tenant, self._ledger.now(), names
                    )
            except Exception as err:  # a read-only loop: never let it die, try again later
                log.info("evidence not read again yet", extra={"case": case_id, "error": repr(err)})
                sections = ()
            if any(s.read for s in sections):
                await self.record(case_id, sections, keep_reads=True)
                await self._ledger.settle(case_id)
                await self._read_done(case_id)
            if sections and all(_busy(s) for s in sections if not s.read):
                wait = min(self._retry_seconds, BUSY_WAIT)
            else:
                backoff += 1
                wait = min(self._retry_seconds * 2**backoff, MAX_REREAD_WAIT)


def _busy(section: Section) -> bool:
    """Held back for its turn within Microsoft's budget (not refused, not failing)."""
    return section.problem is not None and section.problem.kind is errors.ProblemKind.BUSY
