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
from datetime import UTC, datetime, timedelta

from bot import errors
from bot.cases.background import Background
from bot.cases.ledger import SYSTEM, CaseLedger
from bot.cases.model import OPEN_STATES, Answer, Case, CaseState, Notice
from bot.core.people import Actor
from bot.errors import Problem, ProblemKind
from bot.logs import correlation_id
from bot.tenant.exchange import ExchangeClient

log = logging.getLogger(__name__)

RELEASING = frozenset({CaseState.RELEASING})


class Releases:
    """Release requests, approvals, the release itself and what comes after it."""

    def __init__(
        self,
        ledger: CaseLedger,
        exchange: ExchangeClient,
        background: Background,
        *,
        runner: str,
        require_second_approver: bool,
        follow_up_seconds: float,
        approval_expiry: timedelta,
    ) -> None:
        self._ledger = ledger
        self._exchange = exchange
        self._background = background
        self._runner = runner
        self._four_eyes = require_second_approver
        self._follow_up_seconds = follow_up_seconds
        self._approval_expiry = approval_expiry

    async def release(self, case: Case, actor: Actor, override_reason: str) -> Answer:
        """Release the sender, or ask for the second approval when that is required."""
        if not case.is_open:
            return Answer(case, Notice.NOT_RELEASABLE)
        if not case.can_release(override=bool(override_reason)):
            await self._ledger.audit(
                actor,
                "release_refused",
                case,
                "refused",
                detail="checklist not done or evidence unread, and no override reason",
            )
            return Answer(case, Notice.CHECKLIST_FIRST)
        if not self._four_eyes:
            return await self._start(case, actor, override_reason or None)
        requested = await self._ledger.update(
            case,
            expect=OPEN_STATES,
            release_requested_by=actor.key,
            release_requested_name=actor.name,
            release_requested_at=datetime.now(UTC),
            override_reason=override_reason or None,
        )
        if requested is None:
            return Answer(await self._ledger.get(case.id) or case, Notice.STALE)
        parameters = {"override_reason": override_reason} if override_reason else {}
        if override_reason and (missing := _missing_evidence(case)):
            parameters["missing_evidence"] = missing
        action = "override_requested" if override_reason else "release_requested"
        await self._ledger.audit(actor, action, requested, "pending", parameters=parameters)
        return Answer(requested, Notice.APPROVAL_NEEDED)

    async def approve(self, case: Case, actor: Actor) -> Answer:
        """A second, different admin approves a requested release."""
        if not case.awaiting_approval:
            return Answer(case, Notice.NOTHING_TO_APPROVE)
        if case.requested_by({actor.aad_object_id, actor.id}):
            await self._ledger.audit(
                actor,
                "approval_refused",
                case,
                "refused",
                detail="the requester cannot approve their own release",
            )
            return Answer(case, Notice.OWN_REQUEST)
        await self._ledger.audit(actor, "release_approved", case, "approved")
        return await self._start(case, actor, case.override_reason)

    async def _start(self, case: Case, actor: Actor, override_reason: str | None) -> Answer:
        releasing = await self._ledger.update(
            case,
            expect=OPEN_STATES,
            state=CaseState.RELEASING,
            override_reason=override_reason,
            release_runner=self._runner,
            release_problem=None,
            released_by=actor.key,
            released_by_name=actor.name,
        )
        if releasing is None:  # a concurrent click or replica won
            return Answer(await self._ledger.get(case.id) or case, Notice.ALREADY_RUNNING)
        if override_reason:
            parameters = {"reason": override_reason}
            if missing := _missing_evidence(case):
                parameters["missing_evidence"] = missing
            await self._ledger.audit(
                actor, "release_override", releasing, "approved", parameters=parameters
            )
        work = self._carry_out(releasing.id, actor, check_first=case.release_interrupted)
        self._background.spawn(work, f"release:{case.id}")
        return Answer(releasing, Notice.RELEASING)

    async def _carry_out(self, case_id: str, actor: Actor, *, check_first: bool) -> None:
        case = await self._ledger.get(case_id)
        if case is None or case.state is not CaseState.RELEASING:
            return
        try:
            if check_first and await self._exchange.restricted_sender(case.upn) is None:
                await self._close(case, CaseState.VERIFIED, "release_verified", actor=actor)
                return
            await self._exchange.release_sender(case.upn)
        except errors.TenantNotFound:
            pass  # already off the list (released elsewhere): the goal is reached
        except errors.BlockWatchError as err:
            detail = f"{type(err).__name__}: {err}"
            await self._failed(case, actor, errors.problem_of(err), detail)
            return
        except Exception as err:
            log.exception("release failed unexpectedly", extra={"case": case_id})
            detail = f"{type(err).__name__} (see the log under this correlation id)"
            await self._failed(case, actor, errors.unexpected(correlation_id.get()), detail)
            return
        released = await self._ledger.touch(
            case_id, state=CaseState.RELEASED, released_at=datetime.now(UTC), release_runner=None
        )
        assert released is not None
        await self._ledger.audit(actor, "release", released, "done")
        self.follow(case_id)

    async def _failed(self, case: Case, actor: Actor, problem: Problem, detail: str) -> None:
        """The release did not happen: open the case again with Microsoft's answer on it."""
        back = await self._ledger.touch(
            case.id,
            state=CaseState.READY if case.release_ready else CaseState.REMEDIATING,
            release_runner=None,
            release_problem=problem,
        )
        await self._ledger.audit(actor, "release", back or case, "failed", detail=detail)

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
                entry = await self._exchange.restricted_sender(case.upn)
            except Exception as err:  # a read-only loop: keep following up
                log.warning("follow-up check failed", extra={"case": case_id, "error": repr(err)})
            else:
                if entry is None:
                    await self._close(case, CaseState.VERIFIED, "release_verified")
                    return
                if case.released_at and entry.created and entry.created > case.released_at:
                    await self._close(case, CaseState.RE_RESTRICTED, "re_restricted")
                    await self._ledger.open_case(entry)
                    return
            await asyncio.sleep(self._follow_up_seconds)

    async def released_elsewhere(self, upn: str) -> None:
        """The sender left the list without BlockWatch (portal, PowerShell, expiry)."""
        case = await self._ledger.open_for(upn)
        if case is not None and case.state is not CaseState.RELEASING:
            await self._close(case, CaseState.VERIFIED, "released_elsewhere")

    async def re_restricted(self, upn: str) -> None:
        """The sender was restricted again: close the old case (a new one will link it)."""
        case = await self._ledger.open_for(upn)
        if case is not None:
            await self._close(case, CaseState.RE_RESTRICTED, "re_restricted")

    async def _close(
        self, case: Case, state: CaseState, action: str, *, actor: Actor = SYSTEM, detail: str = ""
    ) -> None:
        closed = await self._ledger.update(
            case, state=state, closed_at=datetime.now(UTC), release_runner=None
        )
        if closed is not None:
            await self._ledger.audit(actor, action, closed, "done", detail=detail)

    # ---- upkeep: releases whose runner stopped, approvals nobody gave ---------------------

    async def recover(self, cases: list[Case], alive: set[str]) -> None:
        """Releases whose runner is gone: verified when Exchange no longer lists the sender,
        else interrupted (Retry offered). A failed check is tried again next round."""
        for case in cases:
            if case.state is not CaseState.RELEASING or case.release_runner in alive:
                continue
            try:
                entry = await self._exchange.restricted_sender(case.upn)
            except errors.BlockWatchError as err:
                log.warning("cannot check an interrupted release yet", extra={"error": str(err)})
                continue
            why = "the process releasing it stopped; "
            now = datetime.now(UTC)
            if entry is None:
                closed = await self._ledger.update(
                    case,
                    expect=RELEASING,
                    state=CaseState.VERIFIED,
                    released_at=case.released_at or now,
                    closed_at=now,
                    release_runner=None,
                )
                if closed is not None:
                    detail = why + "Exchange no longer lists the sender"
                    await self._ledger.audit(
                        SYSTEM, "release_verified", closed, "done", detail=detail
                    )
                continue
            back = await self._ledger.update(
                case,
                expect=RELEASING,
                state=CaseState.READY if case.release_ready else CaseState.REMEDIATING,
                release_runner=None,
                release_problem=Problem(ProblemKind.INTERRUPTED, "Exchange Online"),
            )
            if back is not None:
                detail = why + "the sender is still listed: Retry releases it"
                await self._ledger.audit(
                    SYSTEM, "release_interrupted", back, "interrupted", detail=detail
                )

    async def expire_approvals(self, cases: list[Case], now: datetime) -> None:
        """Release requests that waited too long for a second admin lapse (audited)."""
        for case in cases:
            if not case.approval_expired(now, self._approval_expiry):
                continue
            lapsed = await self._ledger.update(
                case,
                expect=OPEN_STATES,
                release_requested_by=None,
                release_requested_name=None,
                release_requested_at=None,
            )
            if lapsed is not None:
                detail = f"requested by {case.release_requested_name}; nobody approved in time"
                await self._ledger.audit(
                    SYSTEM, "approval_expired", lapsed, "expired", detail=detail
                )


def _missing_evidence(case: Case) -> str:
    """The evidence a release goes ahead without, for the audit trail."""
    return ", ".join(
        f"{s.name.value} ({s.problem.kind.value if s.problem else 'not read'})"
        for s in case.unread_evidence
    )
