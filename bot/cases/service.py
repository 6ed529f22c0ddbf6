"""Cases end to end, as the chat layer asks for them: open, investigate, run checklist steps,
release with approvals, follow up; and the upkeep that gives every piece of work in flight a way
out. The parts live beside this module: ledger.py (every change, audited and announced),
investigator.py, checklist.py, release.py, ownership.py (take, notes, close reasons).

Every effect is claimed in the database first (compare-and-set), so it happens once however
many clicks, retries and replicas arrive. Slow work runs in the background; the click is
answered at once with the card as it is ("running…", "releasing…").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import errors, metrics
from bot.cases.background import Background
from bot.cases.checklist import Checklist
from bot.cases.contained import Mode
from bot.cases.containment import AutoContainment, ContainmentPolicy
from bot.cases.investigator import InvestigationLoad, Investigator
from bot.cases.ledger import SYSTEM, CaseLedger
from bot.cases.model import (
    OVERRIDE_REASON_LIMIT,
    SKIP_REASON_LIMIT,
    Answer,
    Case,
    CaseState,
    CloseReason,
    Notice,
)
from bot.cases.outcomes import StepName
from bot.cases.ownership import Ownership
from bot.cases.ports import (
    Event,
    RunnerLeases,
    SenderLookup,
)
from bot.cases.recovery import interrupted
from bot.cases.release import Releases
from bot.cases.sections import NAMES
from bot.cases.steps import StepOptions
from bot.cases.strength import FIRST
from bot.core.m365 import RestrictedSender
from bot.core.people import Actor, Address

log = logging.getLogger(__name__)

__all__ = ["SYSTEM", "Answer", "CasePolicy", "CaseService"]


@dataclass(frozen=True)
class CasePolicy:
    """Rules set by configuration."""

    require_second_approver: bool = False
    follow_up_seconds: float = 300.0
    internal_domains: frozenset[str] = frozenset()
    runner_lease_seconds: float = 30.0
    evidence_retry_seconds: float = 30.0
    approval_expiry_seconds: float = 24 * 3600.0
    investigations_at_once: int = 4
    # A step or release still in flight here after this long is given up by its own replica's
    # upkeep (ended like one whose owner died; a real outcome arriving later still counts).
    work_deadline_seconds: float = 900.0
    containment: ContainmentPolicy = field(default_factory=ContainmentPolicy)


class CaseService:
    """The case workflow; knows nothing of Teams."""

    def __init__(
        self,
        ledger: CaseLedger,
        investigator: Investigator,
        checklist: Checklist,
        releases: Releases,
        ownership: Ownership,
        containment: AutoContainment,
        *,
        senders: SenderLookup,
        leases: RunnerLeases,
        background: Background,
        policy: CasePolicy,
        runner: str,
    ) -> None:
        self._ledger = ledger
        self._investigator = investigator
        self._checklist = checklist
        self._releases = releases
        self._ownership = ownership
        self.containment = containment
        self._leases = leases
        self._senders = senders
        self._seen_alive: set[str] = set()  # the runners alive at the last upkeep
        self._background = background
        self.policy = policy
        self.runner = runner

    # ---- reading ------------------------------------------------------------------------

    @property
    def investigations(self) -> InvestigationLoad:
        """How many investigations run and wait in this replica (and the most that ran)."""
        return self._investigator.load

    async def get(self, case_id: str) -> Case | None:
        """The case with this id."""
        return await self._ledger.get(case_id)

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        return await self._ledger.open_for(upn)

    async def of_ids(self, case_ids: list[str]) -> list[Case]:
        """These cases (a wave's), in three queries whatever their number."""
        return await self._ledger.of_ids(case_ids)

    async def record(self, case: Case, event: Event) -> None:
        """Audit an event about a case that changes nothing (a bulk action reaching it)."""
        await self._ledger.record(case, event)

    def now(self) -> datetime:
        """The workflow's clock."""
        return self._ledger.now()

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        return await self._ledger.history(upn)

    async def senders(self, *, open_only: bool, limit: int = 50) -> list[tuple[str, str]]:
        """(UPN, display name) of senders with a case, most recent first (for pickers)."""
        return await self._ledger.senders(open_only=open_only, limit=limit)

    async def idle(self) -> None:
        """Wait until no background work runs but the read-only daemons (tests, benchmarks)."""
        await self._background.idle()

    async def shutdown(self, grace: float) -> None:
        """Stop starting work; give running work `grace` seconds, then park it."""
        await self._background.shutdown(grace)

    # ---- opening and investigating --------------------------------------------------------

    async def sync(self, senders: list[RestrictedSender]) -> dict[str, Case]:
        """An open case for every listed sender (created without investigating)."""
        return {s.upn.lower(): await self._ledger.open_case(s) for s in senders}

    async def open(self, sender: RestrictedSender, actor: Actor) -> Case:
        """The sender's case, with its investigation started if it has none yet."""
        return await self._investigator.start(await self._ledger.open_case(sender), actor)

    async def open_sender(self, upn: str, actor: Actor) -> Case | None:
        """The sender's case with its investigation started: the open one, else a new one when
        Exchange lists the sender (as the list the admin clicked in shows it, when that was read
        recently; else read now). None when the sender is not restricted."""
        case = await self._ledger.open_for(upn)
        if case is None:
            sender = self._senders.listed(upn) or (await self._senders.one(upn))[0]
            if sender is None:
                return None
            case = await self._ledger.open_case(sender)
        return await self._investigator.start(case, actor)

    async def status_of(self, upn: str, actor: Actor) -> Case | None:
        """The case `status` shows: the sender's open case; else, when Exchange lists the sender
        now, a new one being investigated; else the sender's last case (None: never had one)."""
        case = await self._ledger.open_for(upn)
        if case is not None:
            return case
        sender, _ = await self._senders.one(upn)
        if sender is not None:
            return await self.open(sender, actor)
        earlier = await self._ledger.history(upn)
        return earlier[0] if earlier else None

    async def ensure_investigation(self, case: Case, actor: Actor, *, wave: bool = False) -> Case:
        """Start the investigation unless it ran or runs (one winner across replicas); a
        wave's reads what containment needs first, for every account of the wave."""
        return await self._investigator.start(case, actor, first=FIRST if wave else ())

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
        picks = options or StepOptions()
        if not await self._checklist.claim(case, step, actor, picks):
            return Answer(await self._ledger.get(case.id) or case, Notice.ALREADY_RUNNING)
        self._checklist.run(case.id, step, actor, address, private_text, picks)
        return Answer(await self._ledger.get(case.id) or case)

    async def run_recommended(
        self, case_id: str, version: int, actor: Actor, address: Address, *, private_text: str
    ) -> Answer:
        """Run steps 1-4 in order in the background, stopping at the first failure; the answer
        already shows the first one running."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        await self._checklist.start_recommended(case, actor, address, private_text)
        return Answer(await self._ledger.get(case.id) or case)

    async def skip_step(
        self, case_id: str, version: int, step: StepName, reason: str, actor: Actor
    ) -> Answer:
        """Skip a step with a written reason."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        reason = reason.strip()[:SKIP_REASON_LIMIT]
        if not reason:
            return Answer(case, Notice.REASON_NEEDED)
        await self._checklist.skip(case, step, reason, actor)
        return Answer(await self._ledger.get(case.id) or case)

    # ---- release ------------------------------------------------------------------------

    async def release(
        self, case_id: str, version: int, actor: Actor, *, override_reason: str | None = None
    ) -> Answer:
        """Release the sender (at once, in the background), or ask for the second approval."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        reason = (override_reason or "").strip()[:OVERRIDE_REASON_LIMIT]
        return await self._releases.release(case, actor, reason)

    async def approve(self, case_id: str, version: int, actor: Actor) -> Answer:
        """A second, different admin approves a requested release."""
        case = await self._current(case_id, version)
        if isinstance(case, Answer):
            return case
        return await self._releases.approve(case, actor)

    async def released_elsewhere(self, upn: str) -> None:
        """The sender left the list without BlockWatch (portal, PowerShell, expiry)."""
        await self._releases.released_elsewhere(upn)

    async def re_restricted(self, upn: str) -> None:
        """The sender was restricted again: close the old case (a new one will link it)."""
        await self._releases.re_restricted(upn)

    # ---- automatic containment --------------------------------------------------------------

    async def watch_for_containment(self, cases: list[Case]) -> None:
        """New restrictions: the policy decides on each once it is investigated."""
        await self.containment.watch(cases)

    async def containment_mode(self) -> Mode:
        """The containment policy's mode now (as switched from Teams, else the setting)."""
        return await self.containment.mode()

    async def undo_containment(self, case_id: str, version: int, actor: Actor) -> Answer:
        """Put back what the policy changed, in the background."""
        case = await self._current(case_id, version)
        return (
            case if isinstance(case, Answer) else await self.containment.ways_back.undo(case, actor)
        )

    async def give_back(
        self, case_id: str, version: int, actor: Actor, address: Address, *, private_text: str
    ) -> Answer:
        """A new temporary password to `actor` privately, and sign-in allowed again (also on a
        released or verified case)."""
        case = await self._ledger.get(case_id)
        if case is None:
            raise errors.UnknownCase("no such case")
        if case.version != version:
            return Answer(case, Notice.STALE)
        return await self.containment.ways_back.give_back(case, actor, address, private_text)

    # ---- ownership and notes -------------------------------------------------------------

    async def take(self, case_id: str, actor: Actor, *, reassign: bool) -> Answer:
        """Make `actor` the case's owner; another admin's case moves only when `reassign`."""
        return await self._ownership.take(case_id, actor, reassign=reassign)

    async def add_note(self, case_id: str, text: str, actor: Actor) -> Answer:
        """Add a note to the case (open or ended)."""
        return await self._ownership.add_note(case_id, text, actor)

    async def give_close_reason(
        self, case_id: str, reason: CloseReason, comment: str, actor: Actor, *, change: bool
    ) -> Answer:
        """Why the case ended without a release; once given, only `change` replaces it."""
        return await self._ownership.give_close_reason(
            case_id, reason, comment, actor, change=change
        )

    # ---- upkeep -------------------------------------------------------------------------

    async def upkeep(self, now: datetime | None = None) -> bool:
        """Renew this runner's lease, then give every piece of work whose owner is gone its way
        out: steps of dead runners become interrupted, their releases are checked against
        Exchange, and release requests nobody approved in time lapse. True when a runner left
        since the last round (stopped or died): the cards it could not redraw are behind."""
        await self._leases.renew(
            f"runner:{self.runner}", self.runner, self.policy.runner_lease_seconds
        )
        alive = await self._leases.holders("runner:")
        overdue = self._ledger.now() - timedelta(seconds=self.policy.work_deadline_seconds)
        for late in self._checklist.disown_started_before(overdue):
            log.warning("a step ran past its deadline; upkeep ends it", extra={"step": late})
        for late in self._releases.disown_started_before(overdue):
            log.warning("a release ran past its deadline; upkeep checks it", extra={"case": late})
        for late in self.containment.disown_started_before(overdue):
            log.warning("containment work ran past its deadline", extra={"case": late})
        left = bool(self._seen_alive - alive)
        self._seen_alive = alive
        for case_id, step, runner in await self._ledger.running_steps():
            if self._orphaned(case_id, step, runner, alive):
                found = await self._checklist.after_interruption(case_id, step)
                await self._ledger.change(case_id, interrupted(step, self._owned(alive), found))
                await self._ledger.settle(case_id)
        cases = await self._ledger.open_cases()
        for state in CaseState:
            metrics.CASES.labels(state.value).set(sum(c.state is state for c in cases))
        await self._releases.recover(cases, alive)
        await self._releases.expire_approvals(cases, now or self._ledger.now())
        await self.containment.upkeep(alive, cases)
        return left

    def _orphaned(self, case_id: str, step: StepName, runner: str, alive: set[str]) -> bool:
        """A running step nobody carries out: its runner is gone, or it is this process and
        no run of it is in flight here (its task ended without recording an outcome)."""
        if runner == self.runner:
            return (case_id, step) not in self._checklist.running
        return runner not in alive

    def _owned(self, alive: set[str]) -> Callable[[str, str, StepName], bool]:
        """Whether a runner still carries out a step (see `_orphaned`)."""
        return lambda case_id, runner, step: not self._orphaned(case_id, step, runner, alive)

    async def resume(self) -> None:
        """After start-up: pick up investigations, re-reads and follow-ups that were running,
        and run upkeep once. Start-up does not wait for this (it may update cards in Teams)."""
        self._background.spawn(self.upkeep(), "upkeep:start")
        for case in await self._ledger.open_cases():
            unfinished = case.evidence is None or bool(case.evidence.unasked(NAMES))
            if case.is_open and case.state is not CaseState.RESTRICTED and unfinished:
                self._investigator.spawn(case.id)
            elif case.state is CaseState.RELEASED:
                self._releases.follow(case.id)
            else:
                self._investigator.read_again_later(case)

    async def purge(self, before: datetime) -> tuple[int, int]:
        """Retention: delete closed cases and audit events older than `before`."""
        return await self._ledger.purge(before)

    # ---- helpers ------------------------------------------------------------------------

    async def _current(self, case_id: str, version: int) -> Case | Answer:
        case = await self._ledger.get(case_id)
        if case is None:
            raise errors.UnknownCase("no such case")
        if case.version != version:
            return Answer(case, Notice.STALE)
        if case.closed:
            return Answer(case, Notice.CLOSED)
        return case
