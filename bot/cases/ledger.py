"""Every change of a case, in one place: written with compare-and-set (so one of any number of
clicks, retries and replicas wins), audited where it is an action, and announced to the card
views so that every copy of the card shows it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol, Unpack

from bot.cases.model import Case, CaseState, StepDetail, StepName, StepStatus, Undo
from bot.core.m365 import RestrictedSender
from bot.core.people import Actor
from bot.store.audit import AuditEvent, AuditTrail, Parameters
from bot.store.cases import CaseChange, CaseStore

log = logging.getLogger(__name__)

SYSTEM = Actor("system", "", "BlockWatch")


class CaseAnnouncer(Protocol):
    """Told about every change of a case (redraws the cards in Teams)."""

    def case_changed(self, case_id: str) -> None:
        """The case changed: show its new state wherever its card is (soon, not now)."""
        ...


class CaseLedger:
    """Reads and changes cases; every change is announced."""

    def __init__(self, store: CaseStore, audit: AuditTrail, announcer: CaseAnnouncer) -> None:
        self._store = store
        self._audit = audit
        self._announcer = announcer

    # ---- reading --------------------------------------------------------------------------

    async def get(self, case_id: str) -> Case | None:
        """The case with this id."""
        return await self._store.get(case_id)

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        return await self._store.open_for(upn)

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        return await self._store.history(upn)

    async def senders(self, *, open_only: bool, limit: int) -> list[tuple[str, str]]:
        """(UPN, display name) of senders with a case, most recent first."""
        return await self._store.senders(open_only=open_only, limit=limit)

    async def open_cases(self) -> list[Case]:
        """Every case that is not closed."""
        return await self._store.open_cases()

    # ---- changing -------------------------------------------------------------------------

    async def open_case(self, sender: RestrictedSender) -> Case:
        """The sender's open case, created (and audited) if there is none."""
        case, created = await self._store.open_case(
            sender.upn,
            display_name=sender.display_name,
            reason=sender.reason.raw,
            restricted_since=sender.created,
            user_id=sender.user_id,
        )
        if created:
            await self.audit(SYSTEM, "case_opened", case, "done")
            self._announcer.case_changed(case.id)
        return case

    async def update(
        self,
        case: Case,
        *,
        expect: frozenset[CaseState] | None = None,
        **change: Unpack[CaseChange],
    ) -> Case | None:
        """Change the case if it is still at `case.version` (and in `expect`); None if not."""
        changed = await self._store.update(case, expect=expect, **change)
        if changed is not None:
            self._announcer.case_changed(case.id)
        return changed

    async def touch(self, case_id: str, **change: Unpack[CaseChange]) -> Case | None:
        """Change a case whatever its version (background results)."""
        changed = await self._store.touch(case_id, **change)
        self._announcer.case_changed(case_id)
        return changed

    async def start_step(self, case_id: str, step: StepName, *, runner: str, actor: Actor) -> bool:
        """Claim a step to run it (one caller wins, only from a startable status)."""
        won = await self._store.start_step(
            case_id, step, runner=runner, actor_id=actor.key, actor_name=actor.name
        )
        if won:
            self._announcer.case_changed(case_id)
        return won

    async def finish_step(
        self,
        case_id: str,
        step: StepName,
        status: StepStatus,
        detail: StepDetail,
        *,
        undo: Undo | None = None,
    ) -> None:
        """Record a running step's outcome."""
        await self._store.finish_step(case_id, step, status, detail, undo=undo)
        self._announcer.case_changed(case_id)

    async def skip_step(self, case_id: str, step: StepName, reason: str, actor: Actor) -> bool:
        """Skip a step with a written reason (only from a startable status)."""
        skipped = await self._store.skip_step(
            case_id, step, reason, actor_id=actor.key, actor_name=actor.name
        )
        if skipped:
            self._announcer.case_changed(case_id)
        return skipped

    async def add_note(self, case_id: str, text: str, actor: Actor) -> None:
        """Add an admin's note to the case."""
        await self._store.add_note(case_id, text, author_id=actor.key, author_name=actor.name)
        self._announcer.case_changed(case_id)

    async def interrupt_running(self, *, except_runners: set[str]) -> list[tuple[str, str]]:
        """Mark steps of runners that are gone interrupted; (case id, step) of each."""
        interrupted = await self._store.interrupt_running(except_runners=except_runners)
        for case_id in {case_id for case_id, _ in interrupted}:
            self._announcer.case_changed(case_id)
        return interrupted

    async def purge(self, before: datetime) -> tuple[int, int]:
        """Retention: delete closed cases and audit events older than `before`."""
        return await self._store.purge_closed(before), await self._audit.purge(before)

    async def settle(self, case_id: str) -> Case | None:
        """Move an open case to the state its steps and evidence say: ready to release when
        steps 1-4 are settled and the evidence they act on was read, else investigated (no step
        started yet) or remediating."""
        for _ in range(5):
            case = await self._store.get(case_id)
            if case is None or not case.is_open:
                return case
            wanted = case.state
            if case.release_ready:
                wanted = CaseState.READY
            elif case.state is CaseState.READY:
                wanted = CaseState.REMEDIATING
            elif case.state is CaseState.INVESTIGATING and case.evidence is not None:
                started = any(s.status is not StepStatus.NOT_RUN for s in case.steps.values())
                wanted = CaseState.REMEDIATING if started else CaseState.INVESTIGATED
            if wanted is case.state:
                return case
            moved = await self.update(case, state=wanted)
            if moved is not None:
                if wanted is CaseState.READY:
                    await self.audit(SYSTEM, "case_ready", moved, "done")
                return moved
        return await self._store.get(case_id)

    # ---- accounting -----------------------------------------------------------------------

    async def audit(
        self,
        actor: Actor,
        action: str,
        case: Case,
        result: str,
        *,
        parameters: Parameters | None = None,
        detail: str = "",
    ) -> None:
        """Append an event about `case` to the audit trail."""
        await self._audit.record(
            AuditEvent(
                actor_id=actor.key,
                actor_name=actor.name,
                action=action,
                target=case.upn,
                result=result,
                case_id=case.id,
                parameters=parameters or {},
                detail=detail,
            )
        )
