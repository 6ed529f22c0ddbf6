"""A wave: many senders restricted within the hour (one password spray, one phishing run),
handled as one incident. The watcher opens one when a poll brings more than
ALERT_DIGEST_THRESHOLD new restrictions, or the last hour's do; the restrictions of the next
hour join it. Its card is kept true in place like a case card (bot/chat/waves.py); its bulk
actions act on each case through the case workflow, one at a time, so every case's own rules
(its gate, four-eyes, who may act) still decide (bot/cases/bulk.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from bot.cases.model import Case, CaseState
from bot.cases.outcomes import StepStatus
from bot.cases.sections import NAMES
from bot.cases.strength import Verdict, assess
from bot.errors import Problem

WAVE_WINDOW = timedelta(hours=1)  # restrictions this close together are one wave
# Microsoft's budgets a case's investigation spends (bot/tenant/budgets.py): the identity and
# access reports (sign-ins, directory audits, authentication methods: 3 calls, one budget of 5
# per 10 s), Identity Protection (riskyUsers: 1 call, 1 per second) and message trace (1 call,
# 100 per 5 minutes).
REPORT_CALLS, REPORTS_PER_WINDOW, REPORTS_WINDOW = 3, 5, 10.75
RISK_CALLS, RISK_WINDOW = 1, 1.3
TRACES_PER_WINDOW, TRACE_WINDOW = 100, 315.25  # message trace: 1 call a case, 100 per 5 min


class BulkKind(StrEnum):
    """A wave's bulk actions (catalogue key `wave.bulk.<value>`)."""

    CONTAIN = "contain"  # the policy's steps on every case with strong evidence
    RELEASE = "release"  # release every contained case (each case's gate and four-eyes)
    TAKE = "take"  # take every case nobody owns


class Result(StrEnum):
    """How a bulk action ended on one case (catalogue key `wave.result.<value>`)."""

    DONE = "done"
    REQUESTED = "requested"  # four-eyes: the release was requested, a second approver decides
    EXCLUDED = "excluded"  # the containment policy never touches this user
    NOT_READY = "not_ready"  # its release gate says no (steps or evidence missing)
    MOVED_ON = "moved_on"  # the case changed meanwhile (contained, owned, closed already)
    UNDONE = "undone"  # an admin undid its containment (or gave it back): not contained again
    NOT_REACHED = "not_reached"  # the bulk action stopped before it reached the case
    FAILED = "failed"  # `problem` says why


@dataclass(frozen=True)
class Outcome:
    """What a bulk action did to one case."""

    case_id: str
    result: Result
    problem: Problem | None = None


@dataclass(frozen=True)
class BulkAction:
    """One bulk action on a wave: who started it, the cases it acts on, how each ended."""

    id: str
    kind: BulkKind
    actor_name: str
    started_at: datetime
    targets: tuple[str, ...]
    outcomes: tuple[Outcome, ...] = ()
    finished_at: datetime | None = None
    runner: str = ""  # the process carrying it out (upkeep ends it when that one is gone)
    stopped: bool = False  # its runner went away before every case was acted on

    @property
    def running(self) -> bool:
        """Still acting on its cases."""
        return self.finished_at is None

    def outcome(self, case_id: str) -> Outcome | None:
        """How it ended on this case, if it did."""
        return next((o for o in self.outcomes if o.case_id == case_id), None)


@dataclass(frozen=True)
class Wave:
    """Many restrictions within the hour: their cases, and the last bulk action on them."""

    id: str
    opened_at: datetime
    version: int
    case_ids: tuple[str, ...]
    bulk: BulkAction | None = None


@dataclass(frozen=True)
class WaveCounts:
    """Where the wave's cases are."""

    restricted: int
    investigated: int
    strong: int
    contained: int
    released: int
    verified: int


def strong(case: Case) -> bool:
    """The investigation read strong evidence (the containment policy's rules)."""
    return case.evidence is not None and assess(case.evidence).verdict is Verdict.STRONG


def contained(case: Case) -> bool:
    """Contained (by the policy or a bulk action), every one of its steps done (or skipped
    with the reason, as block sign-in for an on-premises account), and not undone."""
    record = case.containment
    return (
        record is not None
        and record.acts
        and record.contained_at is not None
        and record.undone_at is None
        and all(case.step(s).status in (StepStatus.DONE, StepStatus.SKIPPED) for s in record.steps)
    )


def containment_failed(case: Case) -> bool:
    """The containment ran but a step of it did not succeed (the case card says which)."""
    record = case.containment
    return (
        record is not None
        and record.acts
        and record.contained_at is not None
        and record.undone_at is None
        and not contained(case)
    )


def investigated(case: Case) -> bool:
    """The investigation finished (whatever it could read): every section asked."""
    evidence = case.evidence
    return (
        evidence is not None
        and case.state is not CaseState.INVESTIGATING
        and not evidence.unasked(NAMES)
    )


def counts(cases: list[Case]) -> WaveCounts:
    """How many of the wave's cases are how far."""
    released = {CaseState.RELEASED, CaseState.VERIFIED}
    return WaveCounts(
        restricted=len(cases),
        investigated=sum(investigated(c) for c in cases),
        strong=sum(strong(c) for c in cases),
        contained=sum(contained(c) for c in cases),
        released=sum(c.state in released and bool(c.released_by) for c in cases),
        verified=sum(c.state is CaseState.VERIFIED for c in cases),
    )


def floor_seconds(cases: int) -> float:
    """The least time Microsoft's budgets allow for investigating `cases` cases: every
    budgeted call of every case at the budget's rate, whatever else BlockWatch does."""
    if cases <= 0:
        return 0.0
    reports = (math.ceil(cases * REPORT_CALLS / REPORTS_PER_WINDOW) - 1) * REPORTS_WINDOW
    risk = (cases * RISK_CALLS - 1) * RISK_WINDOW
    traces = (math.ceil(cases / TRACES_PER_WINDOW) - 1) * TRACE_WINDOW
    return max(0.0, reports, risk, traces)


def expected_finish(wave: Wave, cases: list[Case], now: datetime) -> datetime | None:
    """When the wave's investigations are expected to be done (None: they are): the budget
    floor for the whole wave from when it opened, and never before now."""
    if all(investigated(c) for c in cases):
        return None
    return max(now, wave.opened_at + timedelta(seconds=floor_seconds(len(cases))))


def applies(kind: BulkKind, case: Case) -> bool:
    """Whether the bulk action acts on this case."""
    if kind is BulkKind.CONTAIN:
        record = case.containment
        busy = record is not None and record.in_flight is not None
        judged = record is not None and (record.undone_at or record.given_back_at) is not None
        return case.is_open and strong(case) and not contained(case) and not busy and not judged
    if kind is BulkKind.RELEASE:
        return case.is_open and contained(case) and not case.awaiting_approval
    return not case.closed and case.owner_id is None


def applies_count(kind: BulkKind, cases: list[Case]) -> int:
    """How many of the cases the bulk action would act on now."""
    return sum(applies(kind, c) for c in cases)


class WaveRepository(Protocol):
    """Waves in the database (bot/store/waves.py), shared by every replica."""

    async def open_wave(self, since: datetime) -> Wave | None:
        """The newest wave opened since `since`, if any."""
        ...

    async def create(self, case_ids: list[str], at: datetime) -> Wave:
        """A new wave of these cases."""
        ...

    async def add(self, wave_id: str, case_ids: list[str], at: datetime) -> Wave | None:
        """These cases join the wave (the ones already in it once)."""
        ...

    async def get(self, wave_id: str) -> Wave | None:
        """The wave with this id."""
        ...

    async def set_bulk(self, wave: Wave, bulk: BulkAction, at: datetime) -> Wave | None:
        """Record the bulk action if the wave is still at `wave.version` (None: it moved)."""
        ...

    async def of_case(self, case_id: str, since: datetime) -> list[str]:
        """Ids of the waves opened since `since` that hold the case."""
        ...

    async def running_bulk(self) -> list[Wave]:
        """Waves whose bulk action is still running."""
        ...
