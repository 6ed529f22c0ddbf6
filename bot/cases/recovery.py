"""What a release that nobody saw finish turned out to be, decided from Exchange's list: the
admin's release (Exchange applied it; BlockWatch lost the answer, or it came late) or
interrupted (Retry offered). Pure decisions for the ledger (bot/cases/ledger.py)."""

from __future__ import annotations

from datetime import datetime

from bot.cases.ledger import SYSTEM
from bot.cases.model import Case, CaseState
from bot.cases.ports import AuditAction, CaseChange, Change, Decide, Event
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
