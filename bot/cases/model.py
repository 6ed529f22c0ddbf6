"""The case, its states and checklist steps, as frozen domain objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CaseState(StrEnum):
    """Where a case is. Every change bumps the case's version."""

    RESTRICTED = "restricted"
    INVESTIGATING = "investigating"
    REMEDIATING = "remediating"
    READY = "ready"
    RELEASING = "releasing"
    RELEASED = "released"
    VERIFIED = "verified"
    RE_RESTRICTED = "re_restricted"


CLOSED_STATES = frozenset({CaseState.VERIFIED, CaseState.RE_RESTRICTED})


class StepName(StrEnum):
    """Microsoft's compromised-account checklist, as buttons."""

    RESET_PASSWORD = "reset_password"  # noqa: S105 - a step name, not a password
    REVOKE_SESSIONS = "revoke_sessions"
    REMOVE_FORWARDING = "remove_forwarding"
    DISABLE_RULES = "disable_rules"
    BLOCK_SIGN_IN = "block_sign_in"
    REMOVE_ROLES = "remove_roles"
    REVIEW_MFA = "review_mfa"


RECOMMENDED = (
    StepName.RESET_PASSWORD,
    StepName.REVOKE_SESSIONS,
    StepName.REMOVE_FORWARDING,
    StepName.DISABLE_RULES,
)


class StepStatus(StrEnum):
    """A step's progress."""

    NOT_RUN = "not_run"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


STARTABLE = frozenset({StepStatus.NOT_RUN, StepStatus.FAILED, StepStatus.INTERRUPTED})
SETTLED = frozenset({StepStatus.DONE, StepStatus.SKIPPED})


@dataclass(frozen=True)
class Step:
    """One checklist step of a case."""

    name: StepName
    status: StepStatus = StepStatus.NOT_RUN
    detail: str = ""
    actor_name: str = ""
    attempt: int = 0
    finished_at: datetime | None = None
    undo: dict[str, Any] | None = None


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
    released_at: datetime | None = None
    evidence: dict[str, Any] | None = None
    steps: dict[StepName, Step] = field(default_factory=dict)

    def step(self, name: StepName) -> Step:
        """The step `name` (not run when it has no row yet)."""
        return self.steps.get(name, Step(name))

    @property
    def checklist_done(self) -> bool:
        """Steps 1-4 are done or skipped with a reason."""
        return all(self.step(s).status in SETTLED for s in RECOMMENDED)

    @property
    def closed(self) -> bool:
        """The case is over (verified, or superseded by a new restriction)."""
        return self.closed_at is not None
