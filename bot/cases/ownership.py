"""The admins' own bookkeeping on a case: who owns it ("Take"), the notes they add, and why a
case ended without a release. Each change is compare-and-set, audited and shown on every copy of
the card (through the ledger); none of it touches the tenant.

Who may do what: a responder takes a case nobody owns and adds notes; taking over a case another
admin owns, and changing a close reason once given, are for approvers (`reassign` / `change`,
decided by the caller from the admin's role, on the server).
"""

from __future__ import annotations

from bot import errors
from bot.cases.ledger import CaseLedger
from bot.cases.model import (
    CLOSE_COMMENT_LIMIT,
    NOTE_LIMIT,
    Answer,
    Case,
    CloseReason,
    Notice,
)
from bot.core.people import Actor

ATTEMPTS = 5  # compare-and-set rounds before giving up on a case that keeps changing


class Ownership:
    """Take, notes and close reasons."""

    def __init__(self, ledger: CaseLedger) -> None:
        self._ledger = ledger

    async def _load(self, case_id: str) -> Case:
        case = await self._ledger.get(case_id)
        if case is None:
            raise errors.UnknownCase("no such case")
        return case

    async def take(self, case_id: str, actor: Actor, *, reassign: bool) -> Answer:
        """Make `actor` the owner of the case. Someone else's case moves only when `reassign`."""
        for _ in range(ATTEMPTS):
            case = await self._load(case_id)
            if case.closed:
                return Answer(case, Notice.CLOSED)
            if case.owner_id == actor.key:
                return Answer(case)
            if not case.can_take(actor.key, reassign=reassign):
                return Answer(case, Notice.OWNED)
            taken = await self._ledger.update(case, owner_id=actor.key, owner_name=actor.name)
            if taken is not None:
                before = f"from {case.owner_name or case.owner_id}" if case.owner_id else ""
                await self._ledger.audit(actor, "case_taken", taken, "done", detail=before)
                return Answer(taken)
        return Answer(await self._load(case_id), Notice.STALE)

    async def add_note(self, case_id: str, text: str, actor: Actor) -> Answer:
        """Add a note (trimmed; empty or longer than NOTE_LIMIT characters is refused, never
        cut); audited with its text."""
        case = await self._load(case_id)
        text = text.strip()
        if not text:
            return Answer(case, Notice.NOTE_EMPTY)
        if len(text) > NOTE_LIMIT:
            return Answer(case, Notice.NOTE_TOO_LONG)
        await self._ledger.add_note(case.id, text, actor)
        noted = await self._load(case.id)
        await self._ledger.audit(actor, "note_added", noted, "done", detail=text)
        return Answer(noted)

    async def give_close_reason(
        self, case_id: str, reason: CloseReason, comment: str, actor: Actor, *, change: bool
    ) -> Answer:
        """Say why a case ended without a release. Once given, only `change` replaces it."""
        comment = comment.strip()[:CLOSE_COMMENT_LIMIT]
        for _ in range(ATTEMPTS):
            case = await self._load(case_id)
            if not case.ended_without_release:
                return Answer(case, Notice.NOT_ENDED)
            if not case.can_give_close_reason(change=change):
                return Answer(case, Notice.REASON_SET)
            given = await self._ledger.update(
                case, close_reason=reason, close_comment=comment or None
            )
            if given is not None:
                await self._ledger.audit(
                    actor,
                    "close_reason",
                    given,
                    "done",
                    parameters={"reason": reason.value},
                    detail=comment,
                )
                return Answer(given)
        return Answer(await self._load(case_id), Notice.STALE)
