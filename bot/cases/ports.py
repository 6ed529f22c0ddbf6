"""What the workflow needs from the world, declared here and implemented outside it: the cases
repository and audit log (`bot/store/`), runner leases, the announcer that redraws cards and
the private channel (`bot/chat/`); the tenant's are in bot/cases/tenant_ports.py.
`bot/compose.py` wires them; tests/workflow.py has in-memory ones, so the rules are tested
without a server.

A change of a case is a `Change`: decided by a pure function of the case as loaded, applied by
`CaseRepository.apply` with compare-and-set on the case's version, its audit event in the same
transaction (bot/cases/ledger.py is the one caller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypedDict

from bot.cases.contained import Containment
from bot.cases.evidence import Evidence
from bot.cases.model import Case, CaseState, CloseReason
from bot.cases.outcomes import StepDetail, StepName, StepStatus, Undo
from bot.core.audit import AuditEvent, Parameters
from bot.core.m365 import DirectoryUser, RestrictedSender
from bot.core.people import Actor, Address
from bot.errors import Problem


class AuditAction(StrEnum):
    """What the audit trail says happened to a case (stored as is; a step's name follows
    the step actions after a colon, e.g. `step_finished:reset_password`)."""

    CASE_OPENED = "case_opened"
    INVESTIGATION_STARTED = "investigation_started"
    INVESTIGATION_FINISHED = "investigation_finished"
    CASE_READY = "case_ready"  # steps 1-4 settled and their evidence read
    CASE_NOT_READY = "case_not_ready"  # evidence a release depends on is unread again
    CASE_SETTLED = "case_settled"  # evidence arrived outside an investigation
    RECOMMENDED_STARTED = "recommended_started"
    RECOMMENDED_STOPPED = "recommended_stopped"  # BlockWatch stopped before the rest started
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    STEP_SKIPPED = "step_skipped"
    STEP_INTERRUPTED = "step_interrupted"
    RELEASE_REFUSED = "release_refused"
    RELEASE_REQUESTED = "release_requested"
    OVERRIDE_REQUESTED = "override_requested"
    APPROVAL_REFUSED = "approval_refused"
    RELEASE_APPROVED = "release_approved"
    RELEASE_OVERRIDE = "release_override"
    RELEASE_STARTED = "release_started"
    RELEASE = "release"
    RELEASE_VERIFIED = "release_verified"
    RELEASE_INTERRUPTED = "release_interrupted"
    RELEASED_ELSEWHERE = "released_elsewhere"
    RE_RESTRICTED = "re_restricted"
    APPROVAL_EXPIRED = "approval_expired"
    CASE_TAKEN = "case_taken"
    NOTE_ADDED = "note_added"
    CLOSE_REASON = "close_reason"
    # The automatic containment policy (actor: "BlockWatch (automatic containment)").
    CONTAINMENT_DECIDED = "containment_decided"  # result: contain, would_contain, weak…
    CONTAINED = "contained"  # its steps ended
    CONTAINMENT_STOPPED = "containment_stopped"  # its runner stopped before it finished
    CONTAINMENT_UNDONE = "containment_undone"
    ACCOUNT_GIVEN_BACK = "account_given_back"
    WORK_FAILED = "containment_work_failed"  # an undo or give-back did not finish
    BULK_ACTION = "bulk_action"  # a wave's bulk action reached the case (its id a parameter)


@dataclass(frozen=True)
class Event:
    """An audit event about a case, before it is written."""

    action: AuditAction
    actor: Actor
    result: str
    step: StepName | None = None
    parameters: Parameters = field(default_factory=dict)
    detail: str = ""

    @property
    def name(self) -> str:
        """The action as the audit trail stores it."""
        return f"{self.action.value}:{self.step.value}" if self.step else self.action.value

    def about(self, case: Case, at: datetime | None = None) -> AuditEvent:
        """The entry of the audit trail for this event about `case`."""
        return AuditEvent(
            actor_id=self.actor.key,
            actor_name=self.actor.name,
            action=self.name,
            target=case.upn,
            result=self.result,
            case_id=case.id,
            parameters=self.parameters,
            detail=self.detail,
            at=at,
        )


class CaseChange(TypedDict, total=False):
    """The fields of a case that may change, with their domain types."""

    state: CaseState
    user_id: str
    display_name: str
    evidence: Evidence
    released_at: datetime
    closed_at: datetime
    release_requested_by: str | None
    release_requested_name: str | None
    override_reason: str | None
    release_requested_at: datetime | None
    released_by: str
    released_by_name: str
    release_runner: str | None
    release_problem: Problem | None
    owner_id: str | None
    owner_name: str | None
    close_reason: CloseReason | None
    close_comment: str | None
    containment: Containment


@dataclass(frozen=True)
class StepWrite:
    """A checklist step's new status: claimed (running, by `runner`), ended or skipped."""

    name: StepName
    status: StepStatus
    detail: StepDetail | None = None
    undo: Undo | None = None
    runner: str = ""
    actor: Actor | None = None  # who started or skipped it (kept when None)
    attempt: int | None = None  # kept when None


@dataclass(frozen=True)
class Change:
    """What a decision changes on a case, and the one audit event that tells it."""

    event: Event | None = None
    fields: CaseChange = field(default_factory=lambda: CaseChange())
    step: StepWrite | None = None
    note: str | None = None  # a note added by the event's actor

    @property
    def state(self) -> CaseState | None:
        """The state the case moves to, if this change moves it."""
        return self.fields.get("state")


Decide = Callable[[Case], Change | None]  # None: nothing to change


class CaseRepository(Protocol):
    """Where cases are kept (bot/store/cases.py)."""

    async def get(self, case_id: str) -> Case | None:
        """The case with this id, steps and newest notes included."""
        ...

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        ...

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        ...

    async def senders(self, *, open_only: bool, limit: int) -> list[tuple[str, str]]:
        """(UPN, display name) of senders with a case, most recently opened first."""
        ...

    async def open_cases(self) -> list[Case]:
        """Every case that is not closed."""
        ...

    async def open_case(
        self, sender: RestrictedSender, event: Event, *, at: datetime
    ) -> tuple[Case, bool]:
        """The sender's open case, created with `event` audited in the same transaction when
        there is none; (case, created). One of any number of concurrent callers creates it."""
        ...

    async def apply(self, case: Case, change: Change, *, at: datetime) -> Case | None:
        """Apply `change` if the case is still at `case.version` (bumping it) and write its
        event in the same transaction; the changed case, or None when it had moved on."""
        ...

    async def running_steps(self) -> list[tuple[str, StepName, str]]:
        """(case id, step, runner) of every running step."""
        ...

    async def with_work_in_flight(self) -> list[Case]:
        """Cases on which the containment policy's work is in flight (open or not)."""
        ...

    async def of_ids(self, case_ids: list[str]) -> list[Case]:
        """These cases (three queries whatever their number)."""
        ...

    async def purge_closed(self, before: datetime) -> int:
        """Delete cases closed before `before` (retention)."""
        ...


class SenderLookup(Protocol):
    """Exchange's restricted list as the admins see it (bot/tenant/senders.py)."""

    def listed(self, upn: str) -> RestrictedSender | None:
        """The sender as the list read last (and recently) shows it, if it does."""
        ...

    async def one(self, upn: str) -> tuple[RestrictedSender | None, DirectoryUser | None]:
        """One sender's entry and directory user, read now."""
        ...


class AuditLog(Protocol):
    """The append-only audit trail (bot/store/audit.py)."""

    async def record(self, event: AuditEvent) -> None:
        """Append one event."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete events older than `before` (retention)."""
        ...


class RunnerLeases(Protocol):
    """Who is alive: each replica renews its runner lease (bot/store/leases.py)."""

    async def renew(self, name: str, holder: str, seconds: float) -> bool:
        """Hold (or keep holding) the lease `name` for `seconds`."""
        ...

    async def holders(self, prefix: str) -> set[str]:
        """The holders of unexpired leases whose name starts with `prefix`."""
        ...


class CaseAnnouncer(Protocol):
    """Told about every change of a case (redraws the cards in Teams)."""

    def case_changed(self, case_id: str) -> None:
        """The case changed: show its new state wherever its card is (soon, not now)."""
        ...


class PolicySwitch(Protocol):
    """The containment policy's mode as switched at run time, shared by every replica
    (bot/store/watched.py); None when nobody switched it (the setting applies)."""

    async def containment_mode(self) -> str | None:
        """The mode last switched to."""
        ...

    async def switch_containment(self, mode: str, at: datetime, event: AuditEvent) -> None:
        """Switch the mode for every replica, auditing `event` in the same transaction."""
        ...


class PrivateChannel(Protocol):
    """Delivers a message to one admin only (a 1:1 chat), never to a group or channel."""

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        """Send `text` to `actor` privately (the click came from `address`)."""
        ...
