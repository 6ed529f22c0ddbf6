"""Cases end to end: open, investigate, run checklist steps, release with approvals, follow up.

Every effect is claimed in the database first (compare-and-set), so it happens once however
many clicks, retries and replicas arrive. Slow work runs in the background and every change is
announced to the `CaseAnnouncer` given at construction, which updates the cards everyone sees.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bot import errors
from bot.cases.background import Background
from bot.cases.evidence import Evidence, Section, SectionName
from bot.cases.investigation import Sources, Subject, investigate, read_section
from bot.cases.model import (
    OPEN_STATES,
    RECOMMENDED,
    Case,
    CaseState,
    Note,
    Notice,
    StepDetail,
    StepName,
    StepStatus,
)
from bot.cases.steps import STEPS, StepOptions, StepRun
from bot.chat.messages import Actor, Address
from bot.errors import Problem
from bot.store.audit import AuditEvent, AuditTrail
from bot.store.cases import CaseStore
from bot.store.leases import Leases
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.models import RestrictedSender

log = logging.getLogger(__name__)

SYSTEM = Actor("system", "", "BlockWatch")
MAX_REREAD_WAIT = 600.0  # seconds between reads of evidence that could not be read, at most


class CaseAnnouncer(Protocol):
    """Told about every change of a case (updates the cards in Teams)."""

    async def case_changed(self, case: Case) -> None:
        """The case changed; show its new state wherever its card is."""
        ...


class PrivateChannel(Protocol):
    """Delivers a message to one admin only (a 1:1 chat), never to a group or channel."""

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        """Send `text` to `actor` privately (the click came from `address`)."""
        ...


@dataclass(frozen=True)
class CasePolicy:
    """Rules set by configuration."""

    require_second_approver: bool = False
    follow_up_seconds: float = 300.0
    internal_domains: frozenset[str] = frozenset()
    runner_lease_seconds: float = 30.0
    evidence_retry_seconds: float = 30.0


@dataclass(frozen=True)
class Answer:
    """The case after an action, and a notice for the admin who clicked."""

    case: Case
    notice: Notice | None = None


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
        announcer: CaseAnnouncer,
        private: PrivateChannel,
        policy: CasePolicy,
        runner: str,
    ) -> None:
        self._store = store
        self._audit_trail = audit
        self._exchange = exchange
        self._graph = graph
        self._leases = leases
        self._announcer = announcer
        self._private = private
        self._sources = Sources(exchange, graph)
        self._background = Background()
        self.policy = policy
        self.runner = runner

    # ---- reading ------------------------------------------------------------------------

    async def get(self, case_id: str) -> Case | None:
        """The case with this id."""
        return await self._store.get(case_id)

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        return await self._store.open_for(upn)

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        return await self._store.history(upn)

    async def idle(self) -> None:
        """Wait until no background work runs (tests, benchmarks)."""
        await self._background.idle()

    async def shutdown(self, grace: float) -> None:
        """Stop starting work; give running work `grace` seconds, then park it."""
        await self._background.shutdown(grace)

    # ---- opening and investigating --------------------------------------------------------

    async def sync(self, senders: list[RestrictedSender]) -> dict[str, Case]:
        """An open case for every listed sender (created without investigating)."""
        found: dict[str, Case] = {}
        for sender in senders:
            case, created = await self._store.open_case(
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
        claimed = await self._store.update(
            case, expect=frozenset({CaseState.RESTRICTED}), state=CaseState.INVESTIGATING
        )
        if claimed is None:
            return await self._store.get(case.id) or case
        await self._audit(actor, "investigation_started", claimed, "running")
        self._background.spawn(self._investigate(claimed.id), f"investigate:{claimed.id}")
        return claimed

    async def _investigate(self, case_id: str) -> None:
        case = await self._store.get(case_id)
        if case is None:
            return
        result = "done"
        names = case.evidence.missing if case.evidence is not None else tuple(SectionName)
        try:
            subject = await self._subject(case)
            sections = await investigate(subject, self._sources, datetime.now(UTC), names)
            await self._record(case_id, sections, keep_reads=True)
        except errors.BlockWatchError as err:
            await self._record(case_id, (), failure=errors.problem_of(err))
            result = "failed"
        settled = await self._settle(case_id)
        if settled is not None:
            await self._audit(SYSTEM, "investigation_finished", settled, result)
            await self._announce(settled)
            self._read_again_later(settled)

    async def _subject(self, case: Case) -> Subject:
        """Whose evidence to read (looking the directory id up once, if it is not known)."""
        user_id = case.user_id
        if user_id is None:
            user = await self._graph.users.user(case.upn)
            await self._store.touch(case.id, user_id=user.id, display_name=user.display_name)
            user_id = user.id
        domains = self.policy.internal_domains | {case.upn.rsplit("@", 1)[-1].lower()}
        return Subject(case.upn, user_id, domains)

    async def _record(
        self,
        case_id: str,
        sections: tuple[Section, ...],
        *,
        failure: Problem | None = None,
        keep_reads: bool = False,
    ) -> Case | None:
        """Merge freshly read sections into the case's evidence (compare-and-set, retried on a
        concurrent change). With `keep_reads`, a section already read stays: a step's own read
        is newer than an investigation that started before it."""
        for _ in range(5):
            case = await self._store.get(case_id)
            if case is None:
                return None
            now = datetime.now(UTC)
            evidence = case.evidence or Evidence(now, failure=failure)
            for section in sections:
                current = evidence.section(section.name)
                if not (keep_reads and current is not None and current.read):
                    evidence = evidence.with_section(section, now)
            updated = await self._store.update(case, evidence=evidence)
            if updated is not None:
                return updated
        log.warning("could not record evidence: the case kept changing", extra={"case": case_id})
        return await self._store.get(case_id)

    def _read_again_later(self, case: Case) -> None:
        """Sections that failed for a passing reason (throttled, outage, busy) are read again
        in the background until they are read or the case closes."""
        if case.is_open and case.evidence is not None and case.evidence.retryable:
            self._background.spawn(self._read_again(case.id), f"reread:{case.id}", daemon=True)

    async def _read_again(self, case_id: str) -> None:
        for attempt in itertools.count():
            delay = min(self.policy.evidence_retry_seconds * 2**attempt, MAX_REREAD_WAIT)
            await asyncio.sleep(delay)
            case = await self._store.get(case_id)
            if case is None or not case.is_open or case.evidence is None:
                return
            names = case.evidence.retryable
            if not names:
                return
            try:
                subject = await self._subject(case)
            except errors.BlockWatchError as err:
                log.info("evidence not read again yet", extra={"case": case_id, "error": str(err)})
                continue
            sections = await investigate(subject, self._sources, datetime.now(UTC), names)
            if any(s.read for s in sections):
                await self._record(case_id, sections, keep_reads=True)
                settled = await self._settle(case_id)
                if settled is not None:
                    await self._announce(settled)

    # ---- checklist ----------------------------------------------------------------------

    async def run_step(
        self,
        case_id: str,
        version: int,
        step: StepName,
        actor: Actor,
        address: Address,
        *,
        private_text: str,
        options: StepOptions | None = None,
    ) -> Answer:
        """Claim `step` and run it in the background; a stale card or a repeat does nothing."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if not case.can_start(step) or not await self._claim(case, step, actor):
            return Answer(await self._store.get(case.id) or case, Notice.ALREADY_RUNNING)
        await self._audit(
            actor, f"step_started:{step.value}", case, "running", parameters=_options(options)
        )
        fresh = await self._enter_remediation(case.id)
        self._background.spawn(
            self._run(case.id, step, actor, address, private_text, options or StepOptions()),
            f"step:{case.id}:{step.value}",
        )
        return Answer(fresh)

    async def run_recommended(
        self, case_id: str, version: int, actor: Actor, address: Address, *, private_text: str
    ) -> Answer:
        """Run steps 1-4 in order in the background, stopping at the first failure."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        await self._audit(actor, "recommended_started", case, "running")
        self._background.spawn(
            self._run_recommended(case.id, actor, address, private_text), f"recommended:{case.id}"
        )
        return Answer(case)

    async def _run_recommended(
        self, case_id: str, actor: Actor, address: Address, private_text: str
    ) -> None:
        for step in RECOMMENDED:
            case = await self._store.get(case_id)
            if case is None or not case.can_start(step):
                if case is not None and case.step(step).status is StepStatus.RUNNING:
                    return  # someone else is running it: leave the rest to them
                continue
            if not await self._claim(case, step, actor):
                return  # someone else claimed it first
            await self._audit(actor, f"step_started:{step.value}", case, "running")
            await self._enter_remediation(case_id)
            if not await self._run(case_id, step, actor, address, private_text, StepOptions()):
                return

    async def _claim(self, case: Case, step: StepName, actor: Actor) -> bool:
        return await self._store.start_step(
            case.id, step, runner=self.runner, actor_id=actor.key, actor_name=actor.name
        )

    async def skip_step(
        self, case_id: str, version: int, step: StepName, reason: str, actor: Actor
    ) -> Answer:
        """Skip a step with a written reason."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        reason = reason.strip()[:500]
        if not reason:
            return Answer(case, Notice.REASON_NEEDED)
        if step in case.skippable and await self._store.skip_step(
            case.id, step, reason, actor_id=actor.key, actor_name=actor.name
        ):
            await self._audit(
                actor, f"step_skipped:{step.value}", case, "skipped", parameters={"reason": reason}
            )
        return Answer(await self._settled(case.id))

    async def _run(
        self,
        case_id: str,
        step: StepName,
        actor: Actor,
        address: Address,
        private_text: str,
        options: StepOptions,
    ) -> bool:
        case = await self._store.get(case_id)
        assert case is not None
        upn = case.upn

        async def tell_privately(secret: str) -> None:
            await self._private.tell(actor, address, private_text.format(upn=upn, password=secret))

        async def read(name: SectionName) -> Section:
            section = await read_section(name, subject, self._sources, datetime.now(UTC))
            await self._record(case_id, (section,))
            return section

        try:
            subject = await self._subject(case)
            case = await self._store.get(case_id) or case
            outcome = await STEPS[step](
                StepRun(case, self._exchange, self._graph, options, tell_privately, read)
            )
        except asyncio.CancelledError:
            # Shutting down past the grace period: park the step so a Retry is offered.
            await self._store.finish_step(
                case_id, step, StepStatus.INTERRUPTED, StepDetail(Note.INTERRUPTED)
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
            await self._store.finish_step(
                case_id, step, StepStatus.FAILED, StepDetail.failed(errors.problem_of(err))
            )
            await self._audit(
                actor,
                f"step_finished:{step.value}",
                case,
                "failed",
                detail=f"{type(err).__name__}: {err}",
            )
            await self._announce(await self._settled(case_id))
            return False
        await self._store.finish_step(
            case_id, step, outcome.status, outcome.detail, undo=outcome.undo
        )
        await self._audit(
            actor,
            f"step_finished:{step.value}",
            case,
            outcome.status.value,
            parameters=outcome.facts(),
        )
        await self._announce(await self._settled(case_id))
        return outcome.status is StepStatus.DONE

    async def _enter_remediation(self, case_id: str) -> Case:
        case = await self._store.get(case_id)
        assert case is not None
        if case.state in (CaseState.RESTRICTED, CaseState.INVESTIGATING):
            return await self._store.touch(case_id, state=CaseState.REMEDIATING) or case
        return case

    async def _settled(self, case_id: str) -> Case:
        settled = await self._settle(case_id)
        assert settled is not None
        return settled

    async def _settle(self, case_id: str) -> Case | None:
        """Move an open case to the state its steps and evidence say: ready to release when
        steps 1-4 are settled and the evidence they act on was read, else remediating."""
        for _ in range(5):
            case = await self._store.get(case_id)
            if case is None or not case.is_open:
                return case
            wanted = case.state
            if case.release_ready:
                wanted = CaseState.READY
            elif case.state is CaseState.READY or (
                case.state is CaseState.INVESTIGATING and case.evidence is not None
            ):
                wanted = CaseState.REMEDIATING
            if wanted is case.state:
                return case
            moved = await self._store.update(case, state=wanted)
            if moved is not None:
                if wanted is CaseState.READY:
                    await self._audit(SYSTEM, "case_ready", moved, "done")
                return moved
        return await self._store.get(case_id)

    # ---- release ------------------------------------------------------------------------

    async def release(
        self, case_id: str, version: int, actor: Actor, *, override_reason: str | None = None
    ) -> Answer:
        """Release the sender, or ask for the second approval when that is required."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if not case.is_open:
            return Answer(case, Notice.NOT_RELEASABLE)
        reason = (override_reason or "").strip()
        if not case.can_release(override=bool(reason)):
            await self._audit(
                actor,
                "release_refused",
                case,
                "refused",
                detail="checklist not done and no override reason",
            )
            return Answer(case, Notice.CHECKLIST_FIRST)
        if self.policy.require_second_approver:
            requested = await self._store.update(
                case,
                expect=OPEN_STATES,
                release_requested_by=actor.key,
                release_requested_name=actor.name,
                override_reason=reason or None,
            )
            if requested is None:
                return Answer(await self._store.get(case.id) or case, Notice.STALE)
            parameters = {"override_reason": reason} if reason else {}
            if reason and (missing := _missing_evidence(case)):
                parameters["missing_evidence"] = missing
            await self._audit(
                actor,
                "release_requested" if not reason else "override_requested",
                requested,
                "pending",
                parameters=parameters,
            )
            return Answer(requested, Notice.APPROVAL_NEEDED)
        return await self._release(case, actor, override_reason=reason or None)

    async def approve(self, case_id: str, version: int, actor: Actor) -> Answer:
        """A second, different admin approves a requested release."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        if not case.awaiting_approval:
            return Answer(case, Notice.NOTHING_TO_APPROVE)
        if case.requested_by({actor.aad_object_id, actor.id}):
            await self._audit(
                actor,
                "approval_refused",
                case,
                "refused",
                detail="the requester cannot approve their own release",
            )
            return Answer(case, Notice.OWN_REQUEST)
        await self._audit(actor, "release_approved", case, "approved")
        return await self._release(case, actor, override_reason=case.override_reason)

    async def _release(self, case: Case, actor: Actor, *, override_reason: str | None) -> Answer:
        releasing = await self._store.update(
            case, expect=OPEN_STATES, state=CaseState.RELEASING, override_reason=override_reason
        )
        if releasing is None:  # a concurrent click or replica won
            return Answer(await self._store.get(case.id) or case, Notice.ALREADY_RUNNING)
        if override_reason:
            parameters = {"reason": override_reason}
            if missing := _missing_evidence(case):
                parameters["missing_evidence"] = missing
            await self._audit(
                actor, "release_override", releasing, "approved", parameters=parameters
            )
        try:
            await self._exchange.release_sender(case.upn)
        except errors.TenantNotFound:
            pass  # already off the list (released elsewhere): the goal is reached
        except errors.BlockWatchError as err:
            back = await self._store.touch(
                case.id, state=CaseState.READY if case.release_ready else CaseState.REMEDIATING
            )
            await self._audit(
                actor, "release", releasing, "failed", detail=f"{type(err).__name__}: {err}"
            )
            limit = isinstance(err, errors.UnblockLimitReached)
            return Answer(
                back or releasing, Notice.UNBLOCK_LIMIT if limit else Notice.RELEASE_FAILED
            )
        released = await self._store.touch(
            case.id, state=CaseState.RELEASED, released_at=datetime.now(UTC)
        )
        assert released is not None
        await self._audit(actor, "release", released, "done")
        self._background.spawn(self.follow_up(case.id), f"follow-up:{case.id}")
        return Answer(released, Notice.RELEASED)

    async def follow_up(self, case_id: str) -> None:
        """Check until the sender is gone from the list (verified) or blocked again."""
        while True:
            case = await self._store.get(case_id)
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
        case = await self._store.open_for(upn)
        if case is not None and case.state is not CaseState.RELEASING:
            await self._close(case, CaseState.VERIFIED, "released_elsewhere")

    async def re_restricted(self, upn: str) -> None:
        """The sender was restricted again: close the old case (a new one will link it)."""
        case = await self._store.open_for(upn)
        if case is not None:
            await self._close(case, CaseState.RE_RESTRICTED, "re_restricted")

    async def _close(self, case: Case, state: CaseState, action: str) -> None:
        closed = await self._store.update(case, state=state, closed_at=datetime.now(UTC))
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
        for case_id, step in await self._store.interrupt_running(except_runners=alive):
            case = await self._store.get(case_id)
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
        self._background.spawn(self.upkeep(), "upkeep:start")
        for case in await self._store.open_cases():
            unfinished = case.evidence is None or bool(case.evidence.missing)
            if case.state is not CaseState.RESTRICTED and case.is_open and unfinished:
                self._background.spawn(self._investigate(case.id), f"investigate:{case.id}")
            elif case.state is CaseState.RELEASED:
                self._background.spawn(self.follow_up(case.id), f"follow-up:{case.id}")
            else:
                self._read_again_later(case)

    async def purge(self, before: datetime) -> tuple[int, int]:
        """Retention: delete closed cases and audit events older than `before`."""
        return await self._store.purge_closed(before), await self._audit_trail.purge(before)

    # ---- helpers ------------------------------------------------------------------------

    async def _current(self, case_id: str, version: int) -> Case | Answer:
        case = await self._store.get(case_id)
        if case is None:
            raise errors.UnknownCase("no such case")
        if case.version != version:
            return Answer(case, Notice.STALE)
        if case.closed:
            return Answer(case, Notice.CLOSED)
        return case

    async def _announce(self, case: Case) -> None:
        try:
            await self._announcer.case_changed(case)
        except Exception:
            log.exception("could not update the case's cards", extra={"case": case.id})

    async def _audit(
        self,
        actor: Actor,
        action: str,
        case: Case,
        result: str,
        *,
        parameters: dict[str, str] | None = None,
        detail: str = "",
    ) -> None:
        await self._audit_trail.record(
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


def _missing_evidence(case: Case) -> str:
    """The evidence a release goes ahead without, for the audit trail."""
    return ", ".join(
        f"{s.name.value} ({s.problem.kind.value if s.problem else 'not read'})"
        for s in case.unread_evidence
    )


def _options(options: StepOptions | None) -> dict[str, str]:
    """What the audit trail records about the admin's picks."""
    if options is None:
        return {}
    found = {}
    if options.rules is not None:
        found["rules"] = ",".join(options.rules)
    if options.remove:
        found["remove"] = ",".join(options.remove)
    return found
