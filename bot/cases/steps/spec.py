"""What a checklist step declares about itself, in its own module (see __init__.py), and what it
gets when it runs.

A step that acts on evidence (rules, forwarding, roles, MFA methods) reads that section itself,
fresh, when it runs (`StepRun.read`, which also records the read on the case): a rule created
after the investigation is caught, and a section that cannot be read fails the step with the
reason. No step finishes "nothing to do" without having looked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.cases.evidence import Section, SectionName
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus, Undo
from bot.cases.sections.spec import Need
from bot.cases.tenant_ports import Tenant, TenantReads
from bot.errors import Problem, ProblemKind, TenantRequestFailed

if TYPE_CHECKING:
    from bot.cases.model import Case, Step

MAX_PICKS = 100  # rules or methods one click may name
PrivateMessage = Callable[[str], Awaitable[None]]
ReadSection = Callable[[SectionName], Awaitable[Section]]


@dataclass(frozen=True)
class StepOptions:
    """What the admin picked on the card: rules to disable (None: every flagged one) and
    flagged sign-in methods to remove."""

    rules: tuple[str, ...] | None = None
    remove: tuple[str, ...] = ()

    @classmethod
    def picked(cls, *, rules: str | None, remove: str | None) -> StepOptions:
        """The picks as the card's inputs send them: comma-separated ids (no rules input:
        every flagged rule)."""

        def ids(value: str) -> tuple[str, ...]:
            return tuple(i for i in value.split(",") if i)[:MAX_PICKS]

        return cls(None if rules is None else ids(rules), ids(remove or ""))


@dataclass(frozen=True)
class Outcome:
    """How a step ended: status, what it says, and how to undo it."""

    status: StepStatus
    detail: StepDetail
    undo: Undo | None = None

    def facts(self) -> dict[str, str]:
        """What the audit trail records about the outcome (never a secret)."""
        found: dict[str, str] = {}
        if self.detail.names:
            found["names"] = ", ".join(self.detail.names)
            found["count"] = str(len(self.detail.names))
        if self.detail.old:
            found["old"] = self.detail.old
        return found


@dataclass(frozen=True)
class StepRun:
    """What a step needs: the case, the tenant, options and the private channel."""

    case: Case
    tenant: Tenant
    options: StepOptions
    tell_privately: PrivateMessage | None  # None: nobody is told (automatic containment)
    read: ReadSection

    def user_id(self) -> str:
        """The directory id of the account the step acts on."""
        if not self.case.user_id:
            raise TenantRequestFailed("the user's directory id is unknown")
        return self.case.user_id


Run = Callable[[StepRun], Awaitable[Outcome]]
# Put back what a run changed, from its undo record (the tenant's prior state).
Revert = Callable[[Tenant, "Case", Undo], Awaitable[None]]
# What an interrupted run of the step really did, read from the tenant (None: cannot tell).
AfterInterruption = Callable[[TenantReads, "Case", "Step"], Awaitable["Outcome | None"]]


@dataclass(frozen=True)
class StepSpec:
    """A checklist step: its name (catalogue keys `step.<name>…`), whether it is one of the
    recommended steps 1-4, the section it reads fresh (a release waits until a recommended
    step's section was read), what it does, what the tenant must grant for it, and the kind of
    record it keeps to undo it (and `revert`, which puts it back); a step whose repetition
    matters says what an interrupted run really did (`after_interruption`), read from the
    tenant."""

    name: StepName
    recommended: bool
    reads: SectionName | None
    run: Run
    needs: tuple[Need, ...]
    undo: type | None = None
    after_interruption: AfterInterruption | None = None
    revert: Revert | None = None


def done(
    note: Note, undo: Undo | None = None, *, names: tuple[str, ...] = (), old: str = ""
) -> Outcome:
    """A step that did its job."""
    return Outcome(StepStatus.DONE, StepDetail(note, names=names, old=old), undo)


def unreadable(section: Section) -> Outcome:
    """The step could not look at what it acts on: it failed, and says why."""
    problem = section.problem or Problem(ProblemKind.FAILED)
    return Outcome(StepStatus.FAILED, StepDetail.failed(problem))
