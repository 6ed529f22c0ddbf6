"""The admins' own bookkeeping on a case: who owns it ("Take"), the notes they add, and why a
case ended without a release. Each change is compare-and-set, audited and shown on every copy of
the card (through the ledger); none of it touches the tenant.

Who may do what: a responder takes a case nobody owns and adds notes; taking over a case another
admin owns, and changing a close reason once given, are for approvers (`reassign` / `change`,
decided by the caller from the admin's role, on the server).
"""

from __future__ import annotations

from bot.cases.ledger import CaseLedger
from bot.cases.model import (
    CLOSE_COMMENT_LIMIT,
    NOTE_LIMIT,
    Answer,
    Case,
    CloseReason,
    Notice,
)
from bot.cases.ports import AuditAction, CaseChange, Change, Event
from bot.core.people import Actor


class Ownership:
    """Take, notes and close reasons."""

    def __init__(self, ledger: CaseLedger) -> None:
        self._ledger = ledger

    async def take(self, case_id: str, actor: Actor, *, reassign: bool) -> Answer:
        """Make `actor` the owner of the case. Someone else's case moves only when `reassign`."""
        refused: list[Notice] = []

        def take(case: Case) -> Change | None:
            refused.clear()
            if case.closed:
                refused.append(Notice.CLOSED)
            elif case.owner_id != actor.key and not case.can_take(actor.key, reassign=reassign):
                refused.append(Notice.OWNED)
            if refused or case.owner_id == actor.key:
                return None
            before = f"from {case.owner_name or case.owner_id}" if case.owner_id else ""
            taken = Event(AuditAction.CASE_TAKEN, actor, "done", detail=before)
            return Change(taken, CaseChange(owner_id=actor.key, owner_name=actor.name))

        taken = await self._ledger.change(case_id, take)
        return Answer(taken.case, refused[0] if refused else None)

    async def add_note(self, case_id: str, text: str, actor: Actor) -> Answer:
        """Add a note (trimmed; empty or longer than NOTE_LIMIT characters is refused, never
        cut); audited with its text."""
        text = text.strip()
        refusal = Notice.NOTE_EMPTY if not text else None
        if len(text) > NOTE_LIMIT:
            refusal = Notice.NOTE_TOO_LONG
        noted = Event(AuditAction.NOTE_ADDED, actor, "done", detail=text)

        def note(_: Case) -> Change | None:
            return None if refusal else Change(noted, note=text)

        added = await self._ledger.change(case_id, note)
        return Answer(added.case, refusal)

    async def give_close_reason(
        self, case_id: str, reason: CloseReason, comment: str, actor: Actor, *, change: bool
    ) -> Answer:
        """Say why a case ended without a release. Once given, only `change` replaces it."""
        comment = comment.strip()[:CLOSE_COMMENT_LIMIT]
        refused: list[Notice] = []

        def give(case: Case) -> Change | None:
            refused.clear()
            if not case.ended_without_release:
                refused.append(Notice.NOT_ENDED)
            elif not case.can_give_close_reason(change=change):
                refused.append(Notice.REASON_SET)
            if refused:
                return None
            said = Event(
                AuditAction.CLOSE_REASON,
                actor,
                "done",
                parameters={"reason": reason.value},
                detail=comment,
            )
            return Change(said, CaseChange(close_reason=reason, close_comment=comment or None))

        given = await self._ledger.change(case_id, give)
        return Answer(given.case, refused[0] if refused else None)
