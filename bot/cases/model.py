"""The case, its states and checklist steps, as frozen domain objects.

`Case` answers what it allows now (which steps can run or be skipped, whether it can be
released or approved); the case card and the case service both ask it, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.cases.contained import Containment
from bot.cases.evidence import Evidence, Section, SectionStatus
from bot.cases.outcomes import StepDetail, StepName, StepStatus, Undo
from bot.cases.steps import RECOMMENDED, STEP_EVIDENCE
from bot.errors import Problem, ProblemKind

FOLLOW_UP_LIMIT = timedelta(hours=24)  # Microsoft: a release takes effect within 24 hours
# Release failures that pass by themselves: the admin retries; anything else needs a human.
PASSING = frozenset(
    {
        ProblemKind.THROTTLED,
        ProblemKind.UNAVAILABLE,
        ProblemKind.DEADLINE,
        ProblemKind.BUSY,
        ProblemKind.INTERRUPTED,
        ProblemKind.UNEXPECTED,
    }
)


class CaseState(StrEnum):
    """Where a case is. Every change bumps the case's version."""

    RESTRICTED = "restricted"
    INVESTIGATING = "investigating"
    INVESTIGATED = "investigated"  # evidence read, no checklist step started yet
    REMEDIATING = "remediating"
    READY = "ready"
    RELEASING = "releasing"
    RELEASED = "released"
    VERIFIED = "verified"
    RE_RESTRICTED = "re_restricted"


OPEN_STATES = frozenset(
    {
        CaseState.RESTRICTED,
        CaseState.INVESTIGATING,
        CaseState.INVESTIGATED,
        CaseState.REMEDIATING,
        CaseState.READY,
    }
)
CLOSED_STATES = frozenset({CaseState.VERIFIED, CaseState.RE_RESTRICTED})


STARTABLE = frozenset({StepStatus.NOT_RUN, StepStatus.FAILED, StepStatus.INTERRUPTED})
SETTLED = frozenset({StepStatus.DONE, StepStatus.SKIPPED})
RETRYABLE = frozenset({StepStatus.FAILED, StepStatus.INTERRUPTED})


@dataclass(frozen=True)
class Step:
    """One checklist step of a case."""

    name: StepName
    status: StepStatus = StepStatus.NOT_RUN
    detail: StepDetail | None = None
    actor_name: str = ""
    attempt: int = 0
    finished_at: datetime | None = None
    undo: Undo | None = None
    runner: str = ""  # the process running it (while running)
    started_at: datetime | None = None  # when the last attempt was claimed


class CloseReason(StrEnum):
    """Why a case ended without a BlockWatch release (catalogue key `close.<value>`)."""

    FALSE_POSITIVE = "false_positive"  # the account was not compromised
    HANDLED_ELSEWHERE = "handled_elsewhere"  # released or dealt with in a portal or PowerShell
    ACCOUNT_DISABLED = "account_disabled"  # the account is kept blocked (left, to be deleted)
    OTHER = "other"


NOTE_LIMIT = 1000  # characters of one note
NOTES_LOADED = 20  # the newest notes a case carries; `note_count` says how many there are
CLOSE_COMMENT_LIMIT = 500
SKIP_REASON_LIMIT = 500
OVERRIDE_REASON_LIMIT = 1000


@dataclass(frozen=True)
class CaseNote:
    """A note an admin added to a case."""

    author_name: str
    text: str
    at: datetime
    author_id: str = ""


class Notice(StrEnum):
    """What the admin who clicked is told about their click (catalogue key)."""

    STALE = "notice.stale"
    CLOSED = "notice.closed"
    ALREADY_RUNNING = "notice.already_running"
    REASON_NEEDED = "notice.reason_needed"
    CHECKLIST_FIRST = "notice.checklist_first"
    APPROVAL_NEEDED = "notice.approval_needed"
    NOTHING_TO_APPROVE = "notice.nothing_to_approve"
    OWN_REQUEST = "notice.own_request"
    NOT_RELEASABLE = "notice.not_releasable"
    RELEASING = "notice.releasing"
    OWNED = "notice.owned"  # another admin owns the case: only an approver can take it over
    NOTE_EMPTY = "notice.note_empty"
    NOTE_TOO_LONG = "notice.note_too_long"  # refused whole, never cut
    REASON_SET = "notice.reason_set"  # a close reason was given: only an approver can change it
    NOT_ENDED = "notice.not_ended"  # close reasons are for cases that ended without a release
    NOTHING_TO_UNDO = "notice.nothing_to_undo"  # no containment to undo or account to give back
    BULK_STARTED = "notice.bulk_started"
    BULK_RUNNING = "notice.bulk_running"  # a wave's bulk action is still running
    NOTHING_TO_DO = "notice.nothing_to_do"  # a bulk action applies to none of the wave's cases


@dataclass(frozen=True)
class Answer:
    """The case after an action, and a notice for the admin who clicked."""

    case: Case
    notice: Notice | None = None


@dataclass(frozen=True)
class Case:
    """The handling of one restriction of one sender."""

    id: str
    upn: str
    state: CaseState
    version: int
    opened_at: datetime
    display_name: str | None = None
    user_id: str | None = None
    reason: str = ""
    restricted_since: datetime | None = None
    closed_at: datetime | None = None
    previous_case_id: str | None = None
    release_requested_by: str | None = None
    release_requested_name: str | None = None
    override_reason: str | None = None
    release_requested_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    released_by_name: str | None = None
    release_runner: str | None = None
    release_problem: Problem | None = None
    evidence: Evidence | None = None
    steps: Mapping[StepName, Step] = field(default_factory=dict)
    owner_id: str | None = None
    owner_name: str | None = None
    close_reason: CloseReason | None = None
    close_comment: str | None = None
    notes: tuple[CaseNote, ...] = ()  # newest first, at most NOTES_LOADED
    note_count: int = 0
    containment: Containment | None = None  # what the automatic containment policy decided

    def step(self, name: StepName) -> Step:
        """The step `name` (not run when it has no row yet)."""
        return self.steps.get(name, Step(name))

    @property
    def closed(self) -> bool:
        """The case is over (verified, or superseded by a new restriction)."""
        return self.closed_at is not None or self.state in CLOSED_STATES

    @property
    def is_open(self) -> bool:
        """Steps may run and the sender may be released (nothing is releasing or released)."""
        return self.state in OPEN_STATES and self.closed_at is None

    @property
    def checklist_done(self) -> bool:
        """Steps 1-4 are done or skipped with a reason; sign-in blocked stands in for the
        password reset (the attacker cannot use the account either way)."""
        return all(self._settled(s) for s in RECOMMENDED)

    def _settled(self, name: StepName) -> bool:
        if self.step(name).status in SETTLED:
            return True
        return name is StepName.RESET_PASSWORD and self.sign_in_blocked

    @property
    def sign_in_blocked(self) -> bool:
        """Sign-in to the account is blocked (by BlockWatch, or it already was)."""
        return self.step(StepName.BLOCK_SIGN_IN).status is StepStatus.DONE

    @property
    def can_undo_containment(self) -> bool:
        """The policy contained the account, nothing of it is in flight and it was not undone:
        an approver may put back what it changed (while the case is open)."""
        done = self.containment
        return (
            self.is_open
            and done is not None
            and done.acts
            and done.contained_at is not None
            and done.undone_at is None
            and done.in_flight is None
        )

    @property
    def can_give_back(self) -> bool:
        """The policy blocked sign-in (BlockWatch, not Defender before it) and the sender was
        released: a responder may give the account back (a new temporary password, sign-in
        allowed). Not while the case is open (Undo containment is the approvers' way back),
        nor when it ended with the account kept blocked."""
        done = self.containment
        blocked = self.step(StepName.BLOCK_SIGN_IN)
        return (
            done is not None
            and done.acts
            and done.in_flight is None
            and self.state in (CaseState.RELEASED, CaseState.VERIFIED)
            and self.close_reason is not CloseReason.ACCOUNT_DISABLED
            and blocked.status is StepStatus.DONE
            and blocked.undo is not None
        )

    def can_start(self, name: StepName) -> bool:
        """Whether step `name` can be run (or retried) now."""
        return self.is_open and self.step(name).status in STARTABLE

    def can_retry(self, name: StepName) -> bool:
        """Whether step `name` ended in a way that offers Retry."""
        return self.can_start(name) and self.step(name).status in RETRYABLE

    @property
    def can_run_recommended(self) -> bool:
        """Whether "run recommended steps" is offered: steps 1-4 are not all settled yet."""
        return self.is_open and not self.checklist_done

    @property
    def skippable(self) -> tuple[StepName, ...]:
        """The recommended steps that can be skipped with a reason now."""
        return tuple(s for s in RECOMMENDED if self.can_start(s) and not self._settled(s))

    @property
    def awaiting_approval(self) -> bool:
        """A release was requested and waits for a second admin."""
        return self.is_open and bool(self.release_requested_by)

    @property
    def unread_evidence(self) -> tuple[Section, ...]:
        """Sections a recommended step depends on that have not been read (each unreadable,
        with its problem, or not asked yet). Skipping the step does not make them read: only
        an approver's written override releases without them."""
        evidence = self.evidence
        missing = []
        for step in RECOMMENDED:
            name = STEP_EVIDENCE.get(step)
            if name is None:
                continue
            section = evidence.section(name) if evidence else None
            if section is None:  # still being investigated, or the investigation failed
                why = evidence.failure if evidence else None
                section = Section(
                    name, SectionStatus.UNREADABLE, problem=why or Problem(ProblemKind.BUSY)
                )
            if not section.read:
                missing.append(section)
        return tuple(missing)

    @property
    def release_ready(self) -> bool:
        """A release needs no override: steps 1-4 are settled and the evidence they act on
        was read."""
        return self.checklist_done and not self.unread_evidence

    def can_release(self, *, override: bool) -> bool:
        """Whether a release (or, under four-eyes, a release request) may be made."""
        return self.is_open and (self.release_ready or override)

    def requested_by(self, actor_ids: set[str]) -> bool:
        """Whether one of these ids asked for the pending release."""
        return bool(self.release_requested_by) and self.release_requested_by in actor_ids

    @property
    def release_interrupted(self) -> bool:
        """BlockWatch stopped while Exchange was releasing, and the sender was still listed:
        a Retry first checks the list again."""
        return (
            self.release_problem is not None
            and self.release_problem.kind is ProblemKind.INTERRUPTED
        )

    @property
    def release_needs_a_human(self) -> bool:
        """The last release failed for a reason that will not pass by itself: Microsoft's
        answer is quoted and the support path offered (the unblock limit among others)."""
        problem = self.release_problem
        return problem is not None and problem.kind not in PASSING

    def approval_expired(self, now: datetime, after: timedelta) -> bool:
        """A release request that waited longer than `after` for a second admin."""
        return (
            self.awaiting_approval
            and self.release_requested_at is not None
            and now - self.release_requested_at > after
        )

    @property
    def ended_without_release(self) -> bool:
        """The case is over and BlockWatch never released the sender (released in a portal,
        expired, or restricted again first): an admin says why in a close reason."""
        return self.closed and not self.released_by

    def can_take(self, actor_id: str, *, reassign: bool) -> bool:
        """Whether this admin may become the owner: the case is not over, they do not own it
        yet, and nobody else does (or they may reassign: approvers)."""
        if self.closed or self.owner_id == actor_id:
            return False
        return self.owner_id is None or reassign

    def can_give_close_reason(self, *, change: bool) -> bool:
        """Whether a close reason may be given now: the case ended without a release, and none
        was given yet (or it may be changed: approvers)."""
        return self.ended_without_release and (self.close_reason is None or change)

    def follow_up_overdue(self, now: datetime) -> bool:
        """Released more than 24 hours ago and still not verified: time for Microsoft support."""
        return (
            self.state is CaseState.RELEASED
            and self.released_at is not None
            and now - self.released_at > FOLLOW_UP_LIMIT
        )
