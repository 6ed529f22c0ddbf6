"""The ways back from automatic containment, on the policy's record of a case: Undo
containment (approvers) puts back exactly what the policy changed, from each step's undo record
(sessions it revoked cannot come back, and the card says so); Give the account back
(responders) sets a new temporary password, told only to the admin who clicked, and allows
sign-in again. Each is claimed on the record (compare-and-set; the record names the runner),
runs in the background, and ends done or failed with the reason, audited; upkeep ends it as
interrupted when its runner is gone (bot/cases/containment.py)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from bot import errors
from bot.cases.background import Background
from bot.cases.contained import InFlight, Work
from bot.cases.ledger import CaseLedger, settling
from bot.cases.model import Answer, Case, Notice
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.ports import (
    AuditAction,
    CaseChange,
    Change,
    Decide,
    Event,
    PrivateChannel,
    StepWrite,
)
from bot.cases.steps import step as spec_of
from bot.cases.steps.reset_password import temporary_password
from bot.cases.tenant_ports import Tenant
from bot.core.people import Actor, Address
from bot.errors import Problem
from bot.logs import correlation_id

log = logging.getLogger(__name__)
POLICY_NAME = "BlockWatch (automatic containment)"  # whose steps an undo puts back


class WaysBack:
    """Undo containment and Give the account back."""

    def __init__(
        self,
        ledger: CaseLedger,
        tenant: Tenant,
        private: PrivateChannel,
        background: Background,
        working: dict[str, datetime],
        *,
        runner: str,
    ) -> None:
        self._ledger = ledger
        self._tenant = tenant
        self._private = private
        self._background = background
        self.working = working  # shared with the policy: the work this process is doing
        self.runner = runner

    async def undo(self, case: Case, actor: Actor) -> Answer:
        """Put back what the policy changed (approvers), in the background."""
        claim = await self._claim(case, Work.UNDO, actor, AuditAction.CONTAINMENT_UNDONE)
        if claim is None:
            return Answer(await self._ledger.get(case.id) or case, Notice.NOTHING_TO_UNDO)
        claimed, work = claim
        self._spawn(self._undo(case.id, actor, work), f"undo:{case.id}", case.id)
        return Answer(claimed)

    async def give_back(
        self, case: Case, actor: Actor, address: Address, private_text: str
    ) -> Answer:
        """A new temporary password to `actor` privately, and sign-in allowed (responders)."""
        claim = await self._claim(case, Work.GIVE_BACK, actor, AuditAction.ACCOUNT_GIVEN_BACK)
        if claim is None:
            return Answer(await self._ledger.get(case.id) or case, Notice.NOTHING_TO_UNDO)
        claimed, work = claim
        running = self._give_back(case.id, actor, work, address, private_text)
        self._spawn(running, f"give-back:{case.id}", case.id)
        return Answer(claimed)

    async def _claim(
        self, case: Case, work: Work, actor: Actor, action: AuditAction
    ) -> tuple[Case, InFlight] | None:
        now = self._ledger.now()
        running = InFlight(work, self.runner, actor.name, now)

        def claim(current: Case) -> Change | None:
            allowed = current.can_undo_containment if work is Work.UNDO else current.can_give_back
            if not allowed or current.containment is None:
                return None
            record = dataclasses.replace(current.containment, in_flight=running, problem=None)
            return Change(Event(action, actor, "running"), CaseChange(containment=record))

        claimed = await self._ledger.change(case.id, claim, version=case.version)
        if not claimed.done:
            return None
        self.working[case.id] = now
        return claimed.case, running

    def _spawn(self, work: Coroutine[Any, Any, None], name: str, case_id: str) -> None:
        if not self._background.spawn(work, name):
            self.working.pop(case_id, None)  # stopping: upkeep elsewhere ends it

    async def _undo(self, case_id: str, actor: Actor, work: InFlight) -> None:
        """Revert each of the policy's steps from its undo record; one that fails does not
        stop the others (it stays done, and Undo is offered again for it)."""
        failed: Problem | None = None
        try:
            case = await self._ledger.get(case_id)
            record = case.containment if case else None
            if case is None or record is None:
                return
            owner = record.by or POLICY_NAME  # whose steps the containment ran as
            for name in record.steps:
                step = case.step(name)
                revert = spec_of(name).revert
                if step.status is not StepStatus.DONE or step.actor_name != owner:
                    continue
                if revert is None or step.undo is None:
                    continue  # sessions revoked, or a password reset: they stay (the card says)
                try:
                    await revert(self._tenant, case, step.undo)
                except errors.BlockWatchError as err:
                    log.warning(
                        "could not undo a step", extra={"step": name.value, "error": str(err)}
                    )
                    failed = failed or errors.problem_of(err)
                    continue
                back = StepWrite(name, StepStatus.NOT_RUN, StepDetail(Note.UNDONE), actor=actor)
                said = Event(AuditAction.CONTAINMENT_UNDONE, actor, "done", name)
                await self._ledger.record_outcome(case_id, _step_change(said, back))
            if failed is not None:
                raise UndoIncomplete(failed)
            await self._end(case_id, actor, work)
        except Exception as err:
            await self._failed(case_id, actor, work, err)
        finally:
            self.working.pop(case_id, None)

    async def _give_back(
        self, case_id: str, actor: Actor, work: InFlight, address: Address, private_text: str
    ) -> None:
        try:
            case = await self._ledger.get(case_id)
            if case is None or not case.user_id:
                raise errors.UnknownCase("the case or its user is gone")
            password = temporary_password()
            await self._tenant.reset_password(case.user_id, password)
            text = private_text.format(upn=case.upn, password=password)
            try:
                await self._private.tell(actor, address, text)
            except Exception as err:  # reset, nobody has it: sign-in stays blocked
                raise errors.NotDelivered(f"{type(err).__name__}"[:300]) from None
            reset = StepWrite(
                StepName.RESET_PASSWORD,
                StepStatus.DONE,
                StepDetail(Note.PASSWORD_RESET),
                actor=actor,
            )
            said = Event(AuditAction.STEP_FINISHED, actor, "done", StepName.RESET_PASSWORD)
            await self._ledger.record_outcome(case_id, _step_change(said, reset))
            await self._tenant.set_sign_in_blocked(case.user_id, False)
            allowed = StepWrite(
                StepName.BLOCK_SIGN_IN,
                StepStatus.NOT_RUN,
                StepDetail(Note.SIGN_IN_ALLOWED),
                actor=actor,
            )
            said = Event(AuditAction.ACCOUNT_GIVEN_BACK, actor, "done", StepName.BLOCK_SIGN_IN)
            await self._ledger.record_outcome(case_id, _step_change(said, allowed))
            await self._end(case_id, actor, work)
        except Exception as err:
            await self._failed(case_id, actor, work, err)
        finally:
            self.working.pop(case_id, None)

    async def _end(self, case_id: str, actor: Actor, work: InFlight) -> None:
        """The work finished: recorded on the policy's record (only this claim of it). An undo
        also withdraws a release request made while the account was contained: the case is
        open again and must be ready again before anyone releases it."""
        now = self._ledger.now()

        def end(case: Case) -> Change | None:
            record = case.containment
            if record is None or record.in_flight != work:
                return None
            fields = CaseChange()
            if work.work is Work.UNDO:
                owner = record.by or POLICY_NAME
                kept = tuple(
                    s
                    for s in record.steps
                    if case.step(s).status is StepStatus.DONE and case.step(s).actor_name == owner
                )
                ended = dataclasses.replace(
                    record, in_flight=None, undone_at=now, undone_by=actor.name, kept=kept
                )
                facts = {"kept": ",".join(s.value for s in kept)}
                if case.awaiting_approval:
                    facts["release_request"] = "withdrawn"
                    fields["release_requested_by"] = None
                    fields["release_requested_name"] = None
                    fields["release_requested_at"] = None
                    fields["override_reason"] = None
                said = Event(AuditAction.CONTAINMENT_UNDONE, actor, "done", None, facts)
            else:
                ended = dataclasses.replace(
                    record, in_flight=None, given_back_at=now, given_back_by=actor.name
                )
                said = Event(AuditAction.ACCOUNT_GIVEN_BACK, actor, "done")
            fields["containment"] = ended
            return Change(said, fields)

        await self._ledger.record_outcome(case_id, end)
        await self._ledger.record_outcome(case_id, settling)

    async def _failed(self, case_id: str, actor: Actor, work: InFlight, err: Exception) -> None:
        """An undo or give-back that did not finish: the card says why and offers it again."""
        if isinstance(err, UndoIncomplete):
            problem, detail = err.problem, "a step could not be undone; the rest was"
        elif isinstance(err, errors.BlockWatchError):
            problem = errors.problem_of(err)
            detail = f"{type(err).__name__}: {err}"[:300]
        else:
            log.exception("containment work failed unexpectedly", extra={"case": case_id})
            problem = errors.unexpected(correlation_id.get())
            detail = f"{type(err).__name__} (see the log under this correlation id)"

        def failed(case: Case) -> Change | None:
            record = case.containment
            if record is None or record.in_flight != work:
                return None
            ended = dataclasses.replace(record, in_flight=None, problem=problem)
            facts = {"work": work.work.value}
            said = Event(AuditAction.WORK_FAILED, actor, "failed", None, facts, detail)
            return Change(said, CaseChange(containment=ended))

        await self._ledger.record_outcome(case_id, failed)
        await self._ledger.record_outcome(case_id, settling)


class UndoIncomplete(Exception):
    """Some of the policy's steps could not be undone (the first reason is kept)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.kind.value)
        self.problem = problem


def _step_change(said: Event, write: StepWrite) -> Decide:
    return lambda _: Change(said, step=write)
