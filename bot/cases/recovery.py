"""What a release that nobody saw finish turned out to be, decided from Exchange's list: the
admin's release (Exchange applied it; BlockWatch lost the answer, or it came late) or
interrupted (Retry offered). Pure decisions for the ledger (bot/cases/ledger.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.cases.ledger import SYSTEM
from bot.cases.model import Case, CaseState
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.ports import AuditAction, CaseChange, Change, Decide, Event, StepWrite
from bot.cases.steps import Outcome
from bot.core.people import Actor
from bot.errors import Problem, ProblemKind

# Failures that do not say whether Exchange applied the release: the list says.
UNCERTAIN = frozenset({ProblemKind.DEADLINE, ProblemKind.UNAVAILABLE, ProblemKind.INTERRUPTED})


def recovered(gone: bool, now: datetime) -> Decide:
    """A release nobody carries out: the admin's release when the sender is gone (Exchange did
    it; BlockWatch lost the answer), else interrupted."""
    why = "the process releasing it stopped or lost Exchange's answer; "

    def recover(current: Case) -> Change | None:
        if current.state is not CaseState.RELEASING:
            return None
        if gone:
            fields = CaseChange(
                state=CaseState.RELEASED,
                released_at=current.released_at or now,
                release_runner=None,
            )
            admin = Actor(current.released_by or "system", "", current.released_by_name or "")
            detail = why + "Exchange no longer lists the sender"
            return Change(Event(AuditAction.RELEASE, admin, "done", detail=detail), fields)
        fields = CaseChange(
            state=CaseState.READY if current.release_ready else CaseState.REMEDIATING,
            release_runner=None,
            release_problem=Problem(ProblemKind.INTERRUPTED, "Exchange Online"),
        )
        detail = why + "the sender is still listed: Retry releases it"
        said = Event(AuditAction.RELEASE_INTERRUPTED, SYSTEM, "interrupted", detail=detail)
        return Change(said, fields)

    return recover


def late_release(now: datetime) -> Decide:
    """The admin's release Exchange applied after its answer timed out (see
    bot/cases/release.py `released_elsewhere`)."""

    def released(current: Case) -> Change | None:
        problem = current.release_problem
        if not current.is_open or problem is None or problem.kind not in UNCERTAIN:
            return None
        if not current.released_by:
            return None
        admin = Actor(current.released_by, "", current.released_by_name or "")
        detail = (
            "Exchange applied the release after its answer failed "
            f"({problem.kind.value}); the sender is no longer listed"
        )
        fields = CaseChange(
            state=CaseState.RELEASED, released_at=now, release_runner=None, release_problem=None
        )
        return Change(Event(AuditAction.RELEASE, admin, "done", detail=detail), fields)

    return released


def interrupted(
    step: StepName, owned: Callable[[str, str, StepName], bool], found: Outcome | None = None
) -> Decide:
    """A running step nobody carries out ends: as the tenant says it ended when the step can
    tell (`found`), else interrupted (Retry offered)."""

    def interrupt(case: Case) -> Change | None:
        running = case.step(step)
        if running.status is not StepStatus.RUNNING or owned(case.id, running.runner, step):
            return None
        why = "the process running this step stopped, or lost it without recording an outcome"
        if found is not None:
            ended = StepWrite(step, found.status, found.detail, found.undo)
            read = why + "; what it did was read from the tenant"
            said = Event(
                AuditAction.STEP_FINISHED, SYSTEM, found.status.value, step, found.facts(), read
            )
            return Change(said, step=ended)
        parked = StepWrite(step, StepStatus.INTERRUPTED, StepDetail(Note.INTERRUPTED))
        said = Event(AuditAction.STEP_INTERRUPTED, SYSTEM, "interrupted", step, detail=why)
        return Change(said, step=parked)

    return interrupt
