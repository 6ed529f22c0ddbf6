"""Releasing a sender: request (four-eyes), approve, release once, follow up, recover.

A release is claimed with a compare-and-set from an open state to `releasing` that names this
process as its runner; the click is answered at once and `Remove-BlockedSenderAddress` runs in
the background. Every way out is recorded: released (then followed up until Exchange no longer
lists the sender), failed (the case is open again and its card quotes Microsoft's answer), or,
when the runner died, recovered by upkeep: the sender gone means released and verified, still
listed means interrupted with Retry (which checks the list before asking Exchange again).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot import errors
from bot.cases.background import Background
from bot.cases.ledger import SYSTEM, CaseLedger
from bot.cases.model import OPEN_STATES, Answer, Case, CaseState, Notice
from bot.cases.ports import AuditAction, CaseChange, Change, Decide, Event
from bot.cases.recovery import UNCERTAIN, late_release, recovered
from bot.cases.tenant_ports import Tenant
from bot.core.audit import Parameters
from bot.core.people import Actor
from bot.errors import Problem
from bot.logs import correlation_id

log = logging.getLogger(__name__)


class Releases:
    """Release requests, approvals, the release itself and what comes after it."""

    def __init__(
        self,
        ledger: CaseLedger,
        tenant: Tenant,
        background: Background,
        *,
        runner: str,
        require_second_approver: bool,
        follow_up_seconds: float,
        approval_expiry: timedelta,
    ) -> None:
        self._ledger = ledger
        self._tenant = tenant
        self._background = background
        self._runner = runner
        self._four_eyes = require_second_approver
        self._follow_up_seconds = follow_up_seconds
        self._approval_expiry = approval_expiry
        # Cases this process is releasing, and since when (the watchdog's truth).
        self.active: dict[str, datetime] = {}

    async def release(self, case: Case, actor: Actor, override_reason: str) -> Answer:
        """Release the sender, or ask for the second approval when that is required."""
        if not case.is_open:
            return Answer(case, Notice.NOT_RELEASABLE)
        if not case.can_release(override=bool(override_reason)):
            why = "checklist not done or evidence unread, and no override reason"
            await self._ledger.record(
                case, Event(AuditAction.RELEASE_REFUSED, actor, "refused", detail=why)
            )
            return Answer(case, Notice.CHECKLIST_FIRST)
        if not self._four_eyes:
            return await self._start(case, actor, override_reason or None, approved=False)
        now = self._ledger.now()

        def request(current: Case) -> Change | None:
            if current.state not in OPEN_STATES:
                return None
            if override_reason:
                asked = AuditAction.OVERRIDE_REQUESTED
                parameters = _override(current, override_reason, key="override_reason")
            else:
                asked, parameters = AuditAction.RELEASE_REQUESTED, {}
            fields = CaseChange(
                release_requested_by=actor.key,
                release_requested_name=actor.name,
                release_requested_at=now,
                override_reason=override_reason or None,
            )
            return Change(Event(asked, actor, "pending", parameters=parameters), fields)

        requested = await self._ledger.change(case.id, request, version=case.version)
        if not requested.done:
            return Answer(requested.case, Notice.STALE)
        return Answer(requested.case, Notice.APPROVAL_NEEDED)

    async def approve(self, case: Case, actor: Actor) -> Answer:
        """A second, different admin approves a requested release."""
        if not case.awaiting_approval:
            return Answer(case, Notice.NOTHING_TO_APPROVE)
        if case.requested_by({actor.aad_object_id, actor.id}):
            why = "the requester cannot approve their own release"
            await self._ledger.record(
                case, Event(AuditAction.APPROVAL_REFUSED, actor, "refused", detail=why)
            )
            return Answer(case, Notice.OWN_REQUEST)
        if not case.can_release(override=bool(case.override_reason)):
            # The case went back since the request (a containment undone): ask again.
            why = "the case is no longer ready to release"
            await self._ledger.record(
                case, Event(AuditAction.APPROVAL_REFUSED, actor, "refused", detail=why)
            )
            return Answer(case, Notice.NOT_RELEASABLE)
        return await self._start(case, actor, case.override_reason, approved=True)

    async def _start(
        self, case: Case, actor: Actor, override_reason: str | None, *, approved: bool
    ) -> Answer:
        """Claim the release (one caller wins) with its audit event: the approval, the
        override, or the start of a plain release."""

        def start(current: Case) -> Change | None:
            if current.state not in OPEN_STATES:
                return None
            parameters = _override(current, override_reason, key="reason")
            if approved:
                said = Event(AuditAction.RELEASE_APPROVED, actor, "approved", parameters=parameters)
            elif override_reason:
                said = Event(AuditAction.RELEASE_OVERRIDE, actor, "approved", parameters=parameters)
            else:
                said = Event(AuditAction.RELEASE_STARTED, actor, "running")
            fields = CaseChange(
                state=CaseState.RELEASING,
                override_reason=override_reason,
                release_runner=self._runner,
                release_problem=None,
                released_by=actor.key,
                released_by_name=actor.name,
            )
            return Change(said, fields)

        releasing = await self._ledger.change(case.id, start, version=case.version)
        if not releasing.done:  # a concurrent click or replica won
            return Answer(releasing.case, Notice.ALREADY_RUNNING)
        self.active[case.id] = self._ledger.now()
        work = self._carry_out(case.id, actor, check_first=case.release_interrupted)
        if not self._background.spawn(work, f"release:{case.id}"):
            self.active.pop(case.id, None)  # stopping: upkeep checks it against Exchange
        return Answer(releasing.case, Notice.RELEASING)

    async def _carry_out(self, case_id: str, actor: Actor, *, check_first: bool) -> None:
        """Ask Exchange to release, and record what happened however long the database takes
        to answer again (this process owns the release until then)."""
        try:
            decide = await self._ask_exchange(case_id, actor, check_first=check_first)
            if decide is not None:
                released = await self._ledger.record_outcome(case_id, decide)
                if released.done and released.case.state is CaseState.RELEASED:
                    self.follow(case_id)
        finally:
            self.active.pop(case_id, None)

    async def _ask_exchange(
        self, case_id: str, actor: Actor, *, check_first: bool
    ) -> Decide | None:
        """Release the sender; the change that records the answer (None: nothing to do)."""
        case = await self._ledger.get(case_id)
        if case is None or case.state is not CaseState.RELEASING:
            return None
        try:
            if check_first and await self._tenant.restricted_sender(case.upn) is None:
                return self._closing(CaseState.VERIFIED, AuditAction.RELEASE_VERIFIED, actor)
            await self._tenant.release_sender(case.upn)
        except errors.TenantNotFound:
            pass  # already off the list (released elsewhere): the goal is reached
        except errors.BlockWatchError as err:
            problem = errors.problem_of(err)
            if problem.kind in UNCERTAIN and await self._gone(case.upn):
                return self._lost_answer(actor, f"{type(err).__name__}: {err}")
            detail = f"{type(err).__name__}: {err}"
            return self._failed(actor, problem, detail)
        except Exception as err:
            log.exception("release failed unexpectedly", extra={"case": case_id})
            detail = f"{type(err).__name__} (see the log under this correlation id)"
            return self._failed(actor, errors.unexpected(correlation_id.get()), detail)
        now = self._ledger.now()

        def released(current: Case) -> Change | None:
            if not self._mine(current):
                return None
            fields = CaseChange(state=CaseState.RELEASED, released_at=now, release_runner=None)
            return Change(Event(AuditAction.RELEASE, actor, "done"), fields)

        return released

    async def _gone(self, upn: str) -> bool:
        """Whether Exchange no longer lists the sender (False when that cannot be read)."""
        try:
            return await self._tenant.restricted_sender(upn) is None
        except errors.BlockWatchError:
            return False

    def _lost_answer(self, actor: Actor, said: str) -> Decide:
        """Exchange's answer was lost but the sender is off the list: the admin's release."""
        now = self._ledger.now()
        detail = f"Exchange no longer lists the sender although its answer did not come ({said})"

        def released(current: Case) -> Change | None:
            if not self._mine(current):
                return None
            fields = CaseChange(state=CaseState.RELEASED, released_at=now, release_runner=None)
            return Change(Event(AuditAction.RELEASE, actor, "done", detail=detail), fields)

        return released

    def disown_started_before(self, when: datetime) -> list[str]:
        """Give up the releases in flight here since before `when` (past their deadline):
        upkeep then checks them against Exchange like those of a dead runner."""
        late = [case_id for case_id, since in self.active.items() if since < when]
        for case_id in late:
            self.active.pop(case_id, None)
        return late

    def _mine(self, case: Case) -> bool:
        """This process is releasing the case."""
        return case.state is CaseState.RELEASING and case.release_runner == self._runner

    def _failed(self, actor: Actor, problem: Problem, detail: str) -> Decide:
        """The release did not happen: open the case again with Microsoft's answer on it."""

        def back(current: Case) -> Change | None:
            if not self._mine(current):
                return None
            fields = CaseChange(
                state=CaseState.READY if current.release_ready else CaseState.REMEDIATING,
                release_runner=None,
                release_problem=problem,
            )
            return Change(Event(AuditAction.RELEASE, actor, "failed", detail=detail), fields)

        return back

    def follow(self, case_id: str) -> None:
        """Follow a released case up in the background until it is verified."""
        self._background.spawn(self._follow_up(case_id), f"follow-up:{case_id}")

    async def _follow_up(self, case_id: str) -> None:
        """Check until the sender is gone from the list (verified) or blocked again."""
        while True:
            case = await self._ledger.get(case_id)
            if case is None or case.state is not CaseState.RELEASED:
                return
            try:
                entry = await self._tenant.restricted_sender(case.upn)
            except Exception as err:  # a read-only loop: keep following up
                log.warning("follow-up check failed", extra={"case": case_id, "error": repr(err)})
            else:
                if entry is None:
                    await self._close(case_id, CaseState.VERIFIED, AuditAction.RELEASE_VERIFIED)
                    return
                if case.released_at and entry.created and entry.created > case.released_at:
                    await self._close(case_id, CaseState.RE_RESTRICTED, AuditAction.RE_RESTRICTED)
                    await self._ledger.open_case(entry)
                    return
            await asyncio.sleep(self._follow_up_seconds)

    async def released_elsewhere(self, upn: str) -> None:
        """The sender left the list without a release BlockWatch saw succeed: when BlockWatch's
        last release failed without a definite answer (Exchange timed out or was unavailable),
        Exchange applied it late and it is the admin's release (then followed up); otherwise it
        was released elsewhere (portal, PowerShell, expiry)."""
        case = await self._ledger.open_for(upn)
        if case is None:
            return
        late = await self._ledger.change(case.id, late_release(self._ledger.now()))
        if late.done:
            self.follow(case.id)
            return
        await self._close(case.id, CaseState.VERIFIED, AuditAction.RELEASED_ELSEWHERE)

    async def re_restricted(self, upn: str) -> None:
        """The sender was restricted again: close the old case (a new one will link it)."""
        case = await self._ledger.open_for(upn)
        if case is not None:
            await self._close(case.id, CaseState.RE_RESTRICTED, AuditAction.RE_RESTRICTED)

    async def _close(
        self, case_id: str, state: CaseState, action: AuditAction, actor: Actor = SYSTEM
    ) -> None:
        """Close the case (see `_closing`)."""
        await self._ledger.change(case_id, self._closing(state, action, actor))

    def _closing(self, state: CaseState, action: AuditAction, actor: Actor = SYSTEM) -> Decide:
        """Close the case: from releasing (this process's release), released (the follow-up)
        or open (released or restricted elsewhere; never while a release runs)."""
        now = self._ledger.now()

        def close(current: Case) -> Change | None:
            if current.closed_at is not None:
                return None
            if current.state is CaseState.RELEASING and action is AuditAction.RELEASED_ELSEWHERE:
                return None
            fields = CaseChange(state=state, closed_at=now, release_runner=None)
            return Change(Event(action, actor, "done"), fields)

        return close

    # ---- upkeep: releases whose runner stopped, approvals nobody gave ---------------------

    async def recover(self, cases: list[Case], alive: set[str]) -> None:
        """Releases nobody is carrying out (their runner is gone, or it is this process and no
        release of it is in flight): released when Exchange no longer lists the sender (the
        admin's release, whose answer was lost; then followed up), else interrupted (Retry
        offered). A failed check is tried again next round."""
        for case in cases:
            if case.state is not CaseState.RELEASING or case.id in self.active:
                continue
            if case.release_runner in alive and case.release_runner != self._runner:
                continue
            try:
                entry = await self._tenant.restricted_sender(case.upn)
            except errors.BlockWatchError as err:
                log.warning("cannot check an interrupted release yet", extra={"error": str(err)})
                continue
            outcome = await self._ledger.change(  # only the release seen orphaned
                case.id, recovered(entry is None, self._ledger.now()), version=case.version
            )
            if outcome.done and outcome.case.state is CaseState.RELEASED:
                self.follow(case.id)

    async def expire_approvals(self, cases: list[Case], now: datetime) -> None:
        """Release requests that waited too long for a second admin lapse (audited)."""
        expiry = self._approval_expiry

        def lapse(current: Case) -> Change | None:
            if current.state not in OPEN_STATES or not current.approval_expired(now, expiry):
                return None
            who = current.release_requested_name
            detail = f"requested by {who}; nobody approved in time"
            fields = CaseChange(
                release_requested_by=None, release_requested_name=None, release_requested_at=None
            )
            return Change(
                Event(AuditAction.APPROVAL_EXPIRED, SYSTEM, "expired", detail=detail), fields
            )

        for case in cases:
            if case.approval_expired(now, expiry):
                await self._ledger.change(case.id, lapse, version=case.version)


def _override(case: Case, reason: str | None, *, key: str) -> Parameters:
    """What the audit trail records about an override: its reason and the evidence a release
    goes ahead without."""
    if not reason:
        return {}
    parameters: dict[str, str] = {key: reason}
    if missing := _missing_evidence(case):
        parameters["missing_evidence"] = missing
    return parameters


def _missing_evidence(case: Case) -> str:
    """The evidence a release goes ahead without, for the audit trail."""
    return ", ".join(
        f"{s.name} ({s.problem.kind.value if s.problem else 'not read'})"
        for s in case.unread_evidence
    )
