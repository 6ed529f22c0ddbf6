"""Cases end to end: open, investigate, run checklist steps, release with approvals, follow up.

Every effect is claimed in the database first (compare-and-set), so it happens once however
many clicks, retries and replicas arrive. Slow work runs in the background and every change is
announced to `CaseWatchers`, which update the cards everyone sees.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot import errors
from bot.cases.background import Background
from bot.cases.investigation import investigate
from bot.cases.model import (
    CLOSED_STATES,
    RECOMMENDED,
    Case,
    CaseState,
    StepName,
    StepStatus,
)
from bot.cases.steps import STEPS, StepRun
from bot.conversation import Actor, Where
from bot.domain import RestrictedSender
from bot.store.audit import AuditEvent, AuditTrail
from bot.store.cases import CaseStore
from bot.store.leases import Leases
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient

log = logging.getLogger(__name__)

SYSTEM = Actor("system", "", "BlockWatch")
OPEN_STATES = {
    CaseState.RESTRICTED,
    CaseState.INVESTIGATING,
    CaseState.REMEDIATING,
    CaseState.READY,
}
FOLLOW_UP_LIMIT = timedelta(hours=24)  # after this the card warns


class CaseWatchers(Protocol):
    """Told about every change of a case (updates the cards in Teams)."""

    async def case_changed(self, case: Case) -> None:
        """The case changed; show its new state wherever its card is."""
        ...


class PrivateChannel(Protocol):
    """Delivers a message to one admin only (a 1:1 chat), never to a group or channel."""

    async def tell(self, actor: Actor, where: Where, text: str) -> None:
        """Send `text` to `actor` privately."""
        ...


@dataclass(frozen=True)
class CasePolicy:
    """Rules set by configuration."""

    require_second_approver: bool = False
    follow_up_seconds: float = 300.0
    internal_domains: frozenset[str] = frozenset()
    runner_lease_seconds: float = 30.0


@dataclass(frozen=True)
class Answer:
    """The case after an action, and a notice for the admin who clicked (catalogue key)."""

    case: Case
    notice: str | None = None


def detail_json(key: str, **values: Any) -> str:
    """A step detail: catalogue key plus values, translated when a card is drawn."""
    return json.dumps({"key": key, "values": {k: str(v) for k, v in values.items()}})


class CaseService:
    """The case workflow; knows nothing of Teams."""

    def __init__(
        self,
        store: CaseStore,
        audit: AuditTrail,
        exchange: ExchangeClient,
        graph: GraphClient,
        *,
        leases: Leases,
        watchers: CaseWatchers,
        private: PrivateChannel,
        background: Background,
        policy: CasePolicy,
        runner: str,
    ) -> None:
        self.store = store
        self.audit = audit
        self._exchange = exchange
        self._graph = graph
        self._leases = leases
        self._watchers = watchers
        self._private = private
        self.background = background
        self.policy = policy
        self.runner = runner

    # ---- opening and investigating --------------------------------------------------------

    async def sync(self, senders: list[RestrictedSender]) -> dict[str, Case]:
        """An open case for every listed sender (created without investigating)."""
        found: dict[str, Case] = {}
        for sender in senders:
            case, created = await self.store.open_case(
                sender.upn,
                display_name=sender.display_name,
                reason=sender.reason.raw,
                restricted_since=sender.created,
            )
            if created:
                await self._audit(SYSTEM, "case_opened", case, "done")
            found[sender.upn.lower()] = case
        return found

    async def open(self, sender: RestrictedSender, actor: Actor) -> Case:
        """The sender's case, with its investigation started if it has none yet."""
        case = (await self.sync([sender]))[sender.upn.lower()]
        return await self.ensure_investigation(case, actor)

    async def ensure_investigation(self, case: Case, actor: Actor) -> Case:
        """Start the investigation unless it ran or runs (one winner across replicas)."""
        if case.evidence is not None or case.state is not CaseState.RESTRICTED:
            return case
        claimed = await self.store.update(
            case, expect={CaseState.RESTRICTED}, state=CaseState.INVESTIGATING
        )
        if claimed is None:
            return await self.store.get(case.id) or case
        await self._audit(actor, "investigation_started", claimed, "running")
        self.background.spawn(self._investigate(claimed.id), f"investigate:{claimed.id}")
        return claimed

    async def _investigate(self, case_id: str) -> None:
        case = await self.store.get(case_id)
        if case is None:
            return
        result = "done"
        try:
            if case.user_id is None:
                user = await self._graph.user(case.upn)
                case = (
                    await self.store.touch(case.id, user_id=user.id, display_name=user.display_name)
                    or case
                )
            assert case.user_id is not None
            domains = set(self.policy.internal_domains) | {case.upn.rsplit("@", 1)[-1]}
            evidence = await investigate(
                case.upn,
                case.user_id,
                exchange=self._exchange,
                graph=self._graph,
                domains=domains,
                now=datetime.now(UTC),
            )
        except errors.BlockWatchError as err:
            key, values = errors.describe(err)
            evidence = {
                "at": datetime.now(UTC).isoformat(),
                "sections": {},
                "error": {"key": key, "values": values},
            }
            result = "failed"
        updated = await self.store.touch(
            case_id, evidence=evidence, evidence_at=datetime.now(UTC), state=CaseState.REMEDIATING
        )
        if updated is not None:
            await self._audit(SYSTEM, "investigation_finished", updated, result)
            await self._announce(updated)

    # ---- checklist ----------------------------------------------------------------------

    async def run_step(
        self,
        case_id: str,
        version: int,
        step: StepName,
        actor: Actor,
        where: Where,
        *,
        private_text: str,
        options: dict[str, Any] | None = None,
    ) -> Answer:
        """Claim `step` and run it in the background; a stale card or a repeat does nothing."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if not await self.store.start_step(
            case.id,
            step,
            runner=self.runner,
            actor_id=actor.aad_object_id or actor.id,
            actor_name=actor.name,
        ):
            return Answer(await self.store.get(case.id) or case, "notice.already_running")
        await self._audit(
            actor, f"step_started:{step.value}", case, "running", parameters=options or {}
        )
        fresh = await self._enter_remediation(case.id)
        self.background.spawn(
            self._run(case.id, step, actor, where, private_text, options or {}),
            f"step:{case.id}:{step.value}",
        )
        return Answer(fresh)

    async def run_recommended(
        self, case_id: str, version: int, actor: Actor, where: Where, *, private_text: str
    ) -> Answer:
        """Run steps 1-4 in order in the background, stopping at the first failure."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        await self._audit(actor, "recommended_started", case, "running")
        self.background.spawn(
            self._run_recommended(case.id, actor, where, private_text), f"recommended:{case.id}"
        )
        return Answer(case)

    async def _run_recommended(
        self, case_id: str, actor: Actor, where: Where, private_text: str
    ) -> None:
        for step in RECOMMENDED:
            case = await self.store.get(case_id)
            if case is None or case.step(step).status in (StepStatus.DONE, StepStatus.SKIPPED):
                continue
            if not await self.store.start_step(
                case_id,
                step,
                runner=self.runner,
                actor_id=actor.aad_object_id or actor.id,
                actor_name=actor.name,
            ):
                return  # someone else is running it: leave the rest to them
            await self._audit(actor, f"step_started:{step.value}", case, "running")
            await self._enter_remediation(case_id)
            if not await self._run(case_id, step, actor, where, private_text, {}):
                return

    async def skip_step(
        self, case_id: str, version: int, step: StepName, reason: str, actor: Actor
    ) -> Answer:
        """Skip a step with a written reason."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if not reason.strip():
            return Answer(case, "notice.reason_needed")
        if await self.store.skip_step(
            case.id,
            step,
            detail_json("step.skipped", reason=reason.strip()[:500]),
            actor_id=actor.aad_object_id or actor.id,
            actor_name=actor.name,
        ):
            await self._audit(
                actor,
                f"step_skipped:{step.value}",
                case,
                "skipped",
                parameters={"reason": reason.strip()[:500]},
            )
        fresh = await self._after_step(case.id)
        return Answer(fresh)

    async def _run(
        self,
        case_id: str,
        step: StepName,
        actor: Actor,
        where: Where,
        private_text: str,
        options: dict[str, Any],
    ) -> bool:
        case = await self.store.get(case_id)
        assert case is not None
        upn = case.upn

        async def tell_privately(secret: str) -> None:
            await self._private.tell(actor, where, private_text.format(upn=upn, password=secret))

        try:
            if case.user_id is None:
                user = await self._graph.user(case.upn)
                case = await self.store.touch(case_id, user_id=user.id) or case
            outcome = await STEPS[step](
                StepRun(case, self._exchange, self._graph, options, tell_privately)
            )
        except asyncio.CancelledError:
            # Shutting down past the grace period: park the step so a Retry is offered.
            await self.store.finish_step(
                case_id, step, StepStatus.INTERRUPTED, detail_json("step.interrupted")
            )
            await self._audit(
                actor,
                f"step_interrupted:{step.value}",
                case,
                "interrupted",
                detail="BlockWatch shut down while this step ran",
            )
            raise
        except errors.BlockWatchError as err:
            key, values = errors.describe(err)
            await self.store.finish_step(
                case_id, step, StepStatus.FAILED, detail_json(key, **values)
            )
            await self._audit(
                actor,
                f"step_finished:{step.value}",
                case,
                "failed",
                detail=f"{type(err).__name__}: {err}",
            )
            await self._announce(await self._after_step(case_id))
            return False
        await self.store.finish_step(
            case_id,
            step,
            outcome.status,
            detail_json(outcome.detail, **outcome.values),
            undo=outcome.undo,
        )
        await self._audit(
            actor,
            f"step_finished:{step.value}",
            case,
            outcome.status.value,
            parameters={k: v for k, v in outcome.values.items()},
        )
        await self._announce(await self._after_step(case_id))
        return outcome.status is StepStatus.DONE

    async def _enter_remediation(self, case_id: str) -> Case:
        case = await self.store.get(case_id)
        assert case is not None
        if case.state in (CaseState.RESTRICTED, CaseState.INVESTIGATING):
            return await self.store.touch(case_id, state=CaseState.REMEDIATING) or case
        return case

    async def _after_step(self, case_id: str) -> Case:
        case = await self.store.get(case_id)
        assert case is not None
        if case.checklist_done and case.state in OPEN_STATES - {CaseState.READY}:
            ready = await self.store.update(case, state=CaseState.READY)
            if ready is not None:
                await self._audit(SYSTEM, "case_ready", ready, "done")
                return ready
            return await self.store.get(case_id) or case
        return case

    # ---- release ------------------------------------------------------------------------

    async def release(
        self, case_id: str, version: int, actor: Actor, *, override_reason: str | None = None
    ) -> Answer:
        """Release the sender, or ask for the second approval when that is required."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if case.state not in OPEN_STATES:
            return Answer(case, "notice.not_releasable")
        reason = (override_reason or "").strip()
        if not case.checklist_done and not reason:
            await self._audit(
                actor,
                "release_refused",
                case,
                "refused",
                detail="checklist not done and no override reason",
            )
            return Answer(case, "notice.checklist_first")
        if self.policy.require_second_approver:
            requested = await self.store.update(
                case,
                expect=OPEN_STATES,
                release_requested_by=actor.aad_object_id or actor.id,
                release_requested_name=actor.name,
                override_reason=reason or None,
            )
            if requested is None:
                return Answer(await self.store.get(case.id) or case, "notice.stale")
            await self._audit(
                actor,
                "release_requested" if not reason else "override_requested",
                requested,
                "pending",
                parameters={"override_reason": reason} if reason else {},
            )
            return Answer(requested, "notice.approval_needed")
        return await self._release(case, actor, override_reason=reason or None)

    async def approve(self, case_id: str, version: int, actor: Actor) -> Answer:
        """A second, different admin approves a requested release."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if not case.release_requested_by:
            return Answer(case, "notice.nothing_to_approve")
        if case.release_requested_by in (actor.aad_object_id, actor.id):
            await self._audit(
                actor,
                "approval_refused",
                case,
                "refused",
                detail="the requester cannot approve their own release",
            )
            return Answer(case, "notice.own_request")
        await self._audit(actor, "release_approved", case, "approved")
        return await self._release(case, actor, override_reason=case.override_reason)

    async def _release(self, case: Case, actor: Actor, *, override_reason: str | None) -> Answer:
        releasing = await self.store.update(
            case, expect=OPEN_STATES, state=CaseState.RELEASING, override_reason=override_reason
        )
        if releasing is None:  # a concurrent click or replica won
            return Answer(await self.store.get(case.id) or case, "notice.already_running")
        if override_reason:
            await self._audit(
                actor,
                "release_override",
                releasing,
                "approved",
                parameters={"reason": override_reason},
            )
        try:
            await self._exchange.release_sender(case.upn)
        except errors.TenantNotFound:
            pass  # already off the list (released elsewhere): the goal is reached
        except errors.BlockWatchError as err:
            back = await self.store.touch(
                case.id, state=CaseState.READY if case.checklist_done else CaseState.REMEDIATING
            )
            key, _ = errors.describe(err)
            await self._audit(
                actor, "release", releasing, "failed", detail=f"{type(err).__name__}: {err}"
            )
            notice = (
                "notice.unblock_limit" if key == "error.unblock_limit" else "notice.release_failed"
            )
            return Answer(back or releasing, notice)
        released = await self.store.touch(
            case.id, state=CaseState.RELEASED, released_at=datetime.now(UTC)
        )
        assert released is not None
        await self._audit(actor, "release", released, "done")
        self.background.spawn(self.follow_up(case.id), f"follow-up:{case.id}")
        return Answer(released, "notice.released")

    async def follow_up(self, case_id: str) -> None:
        """Check until the sender is gone from the list (verified) or blocked again."""
        while True:
            case = await self.store.get(case_id)
            if case is None or case.state is not CaseState.RELEASED:
                return
            try:
                entry = await self._exchange.restricted_sender(case.upn)
            except errors.BlockWatchError as err:
                log.warning("follow-up check failed", extra={"case": case_id, "error": str(err)})
            else:
                if entry is None:
                    await self._close(case, CaseState.VERIFIED, "release_verified")
                    return
                if case.released_at and entry.created and entry.created > case.released_at:
                    await self._close(case, CaseState.RE_RESTRICTED, "re_restricted")
                    await self.open(entry, SYSTEM)
                    return
            await asyncio.sleep(self.policy.follow_up_seconds)

    async def released_elsewhere(self, upn: str) -> None:
        """The sender left the list without BlockWatch (portal, PowerShell, expiry)."""
        case = await self.store.open_for(upn)
        if case is not None and case.state is not CaseState.RELEASING:
            await self._close(case, CaseState.VERIFIED, "released_elsewhere")

    async def re_restricted(self, upn: str) -> None:
        """The sender was restricted again: close the old case (a new one will link it)."""
        case = await self.store.open_for(upn)
        if case is not None:
            await self._close(case, CaseState.RE_RESTRICTED, "re_restricted")

    async def _close(self, case: Case, state: CaseState, action: str) -> None:
        closed = await self.store.update(case, state=state, closed_at=datetime.now(UTC))
        if closed is not None:
            await self._audit(SYSTEM, action, closed, "done")
            await self._announce(closed)

    # ---- upkeep -------------------------------------------------------------------------

    async def upkeep(self) -> None:
        """Renew this runner's lease; mark steps of dead runners interrupted; resume work."""
        await self._leases.renew(
            f"runner:{self.runner}", self.runner, self.policy.runner_lease_seconds
        )
        alive = await self._leases.holders("runner:")
        for case_id, step in await self.store.interrupt_running(except_runners=alive):
            case = await self.store.get(case_id)
            if case is not None:
                await self._audit(
                    SYSTEM,
                    f"step_interrupted:{step}",
                    case,
                    "interrupted",
                    detail="the process running this step stopped",
                )
                await self._announce(case)

    async def resume(self) -> None:
        """After start-up: pick up investigations and release follow-ups that were running.
        Start-up does not wait for this (it may update cards in Teams)."""
        self.background.spawn(self.upkeep(), "upkeep:start")
        for case in await self.store.open_cases():
            if case.state is CaseState.INVESTIGATING and case.evidence is None:
                self.background.spawn(self._investigate(case.id), f"investigate:{case.id}")
            elif case.state is CaseState.RELEASED:
                self.background.spawn(self.follow_up(case.id), f"follow-up:{case.id}")

    # ---- helpers ------------------------------------------------------------------------

    async def _current(self, case_id: str, version: int) -> Case | Answer:
        case = await self.store.get(case_id)
        if case is None:
            raise errors.UnknownCase("no such case")
        if case.version != version:
            return Answer(case, "notice.stale")
        if case.state in CLOSED_STATES or case.closed:
            return Answer(case, "notice.closed")
        return case

    async def _announce(self, case: Case) -> None:
        try:
            await self._watchers.case_changed(case)
        except Exception:
            log.exception("could not update the case's cards", extra={"case": case.id})

    async def _audit(
        self,
        actor: Actor,
        action: str,
        case: Case,
        result: str,
        *,
        parameters: dict[str, Any] | None = None,
        detail: str = "",
    ) -> None:
        await self.audit.record(
            AuditEvent(
                actor_id=actor.aad_object_id or actor.id,
                actor_name=actor.name,
                action=action,
                target=case.upn,
                result=result,
                case_id=case.id,
                parameters=parameters or {},
                detail=detail,
            )
        )
