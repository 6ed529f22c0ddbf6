"""Running the compromised-account checklist: claim a step once, run it in the background, record
how it ended. A step always ends: done, failed (with the reason; a bug with the correlation id),
or interrupted when BlockWatch stops. Every end is audited and a failed step offers Retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot import errors, metrics
from bot.cases.background import Background
from bot.cases.evidence import Section, SectionName
from bot.cases.investigator import Investigator
from bot.cases.ledger import CaseLedger, settling
from bot.cases.model import Case, CaseState
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
from bot.cases.steps import RECOMMENDED, Outcome, StepOptions, StepRun
from bot.cases.steps import step as spec_of
from bot.cases.tenant_ports import Tenant
from bot.core.people import Actor, Address
from bot.logs import correlation_id

log = logging.getLogger(__name__)

NO_PICKS = StepOptions()
BEFORE_STEPS = frozenset({CaseState.RESTRICTED, CaseState.INVESTIGATING, CaseState.INVESTIGATED})


@dataclass(frozen=True)
class InFlight:
    """A step this process claimed: which attempt, and since when."""

    attempt: int
    since: datetime


class Checklist:
    """Claims, runs and records checklist steps."""

    def __init__(
        self,
        ledger: CaseLedger,
        investigator: Investigator,
        tenant: Tenant,
        private: PrivateChannel,
        background: Background,
        *,
        runner: str,
    ) -> None:
        self._ledger = ledger
        self._investigator = investigator
        self._tenant = tenant
        # Steps this process claimed and is running (or recording), with the attempt: the
        # watchdog's truth about which "running" rows of this runner have an owner.
        self.running: dict[tuple[str, StepName], InFlight] = {}
        self._private = private
        self._background = background
        self.runner = runner

    async def claim(
        self,
        case: Case,
        step: StepName,
        actor: Actor,
        options: StepOptions = NO_PICKS,
        *,
        because: Mapping[str, str] | None = None,
    ) -> bool:
        """Claim `step` (one caller wins), audit the start (with the picks, and `because`:
        what made the policy run it) and leave "investigated"."""
        picks = {**_picks(options), **(because or {})}

        def start(current: Case) -> Change | None:
            if not current.can_start(step):
                return None
            running = StepWrite(
                step,
                StepStatus.RUNNING,
                runner=self.runner,
                actor=actor,
                attempt=current.step(step).attempt + 1,
            )
            fields = CaseChange()
            if current.state in BEFORE_STEPS:
                fields["state"] = CaseState.REMEDIATING
            started = Event(AuditAction.STEP_STARTED, actor, "running", step, picks)
            return Change(started, fields, running)

        claimed = await self._ledger.change(case.id, start)
        if claimed.done:
            attempt = claimed.case.step(step).attempt
            self.running[(case.id, step)] = InFlight(attempt, self._ledger.now())
        return claimed.done

    def run(
        self,
        case_id: str,
        step: StepName,
        actor: Actor,
        address: Address,
        private_text: str,
        options: StepOptions,
    ) -> None:
        """Run a claimed step in the background."""
        work = self._run(case_id, step, actor, address, private_text, options)
        if not self._background.spawn(work, f"step:{case_id}:{step.value}"):
            self.running.pop((case_id, step), None)  # stopping: upkeep elsewhere parks it

    async def run_now(self, case_id: str, step: StepName, actor: Actor) -> bool:
        """Run a claimed step here and now, telling nobody anything privately (automatic
        containment); True when it was done."""
        return await self._run(case_id, step, actor, None, "", NO_PICKS)

    async def start_recommended(
        self, case: Case, actor: Actor, address: Address, private_text: str
    ) -> None:
        """Claim the first recommended step now (the answer shows it running) and run steps
        1-4 in order in the background, stopping at the first one that does not finish."""
        await self._ledger.record(case, Event(AuditAction.RECOMMENDED_STARTED, actor, "running"))
        first = next((s for s in RECOMMENDED if case.can_start(s)), None)
        if first is None or not await self.claim(case, first, actor, StepOptions()):
            return
        work = self._recommended(case.id, first, actor, address, private_text)
        if not self._background.spawn(work, f"recommended:{case.id}"):
            self.running.pop((case.id, first), None)  # stopping: upkeep elsewhere parks it

    async def _recommended(
        self, case_id: str, first: StepName, actor: Actor, address: Address, private_text: str
    ) -> None:
        if not await self._run(case_id, first, actor, address, private_text, StepOptions()):
            return
        rest = RECOMMENDED[RECOMMENDED.index(first) + 1 :]
        for index, step in enumerate(rest):
            case = await self._ledger.get(case_id)
            if case is not None and not self._background.accepting:
                # BlockWatch is stopping: start nothing new; the admin (or another replica's
                # admin) runs the rest, which stays "not run".
                left = [s.value for s in rest[index:] if case.can_start(s)]
                why = "BlockWatch was stopping; not started: " + ", ".join(left)
                stopped = Event(AuditAction.RECOMMENDED_STOPPED, actor, "stopped", detail=why)
                await self._ledger.record(case, stopped)
                return
            if case is None or not case.can_start(step):
                if case is not None and case.step(step).status is StepStatus.RUNNING:
                    return  # someone else is running it: leave the rest to them
                continue
            if not await self.claim(case, step, actor, StepOptions()):
                return  # someone else claimed it first
            if not await self._run(case_id, step, actor, address, private_text, StepOptions()):
                return

    def disown_started_before(self, when: datetime) -> list[str]:
        """Give up the steps in flight here since before `when` (past their deadline): upkeep
        then ends them like those of a dead runner; their outcome, if it comes, still counts."""
        late = [key for key, flight in self.running.items() if flight.since < when]
        for key in late:
            self.running.pop(key, None)
        return [f"{case_id}:{step.value}" for case_id, step in late]

    async def after_interruption(self, case_id: str, step: StepName) -> Outcome | None:
        """What an interrupted run of `step` really did, read from the tenant where the step
        can tell (a password reset); None when it cannot or the tenant does not answer."""
        spec = spec_of(step)
        case = await self._ledger.get(case_id)
        if spec.after_interruption is None or case is None:
            return None
        try:
            return await spec.after_interruption(self._tenant, case, case.step(step))
        except errors.BlockWatchError as err:
            log.warning("could not read what an interrupted step did", extra={"error": str(err)})
            return None

    async def skip(self, case: Case, step: StepName, reason: str, actor: Actor) -> None:
        """Skip a recommended step with a written reason (audited)."""

        def skip(current: Case) -> Change | None:
            if step not in current.skippable:
                return None
            why = StepDetail(Note.SKIPPED, reason=reason)
            skipped = StepWrite(step, StepStatus.SKIPPED, why, actor=actor)
            said = Event(AuditAction.STEP_SKIPPED, actor, "skipped", step, {"reason": reason})
            return Change(said, step=skipped)

        await self._ledger.change(case.id, skip)
        await self._ledger.settle(case.id)

    async def _run(
        self,
        case_id: str,
        step: StepName,
        actor: Actor,
        address: Address | None,
        private_text: str,
        options: StepOptions,
    ) -> bool:
        """Run a claimed step and record how it ended: the outcome is recorded however long the
        database takes to answer again (this process owns the step until then)."""
        flight = self.running.get((case_id, step))
        attempt = flight.attempt if flight else 0  # kept: upkeep may disown it
        try:
            try:
                outcome, detail = await self._attempt(
                    case_id, step, actor, address, private_text, options
                )
            except asyncio.CancelledError:
                # Shutting down past the grace period: park the step so a Retry is offered.
                parked = Outcome(StepStatus.INTERRUPTED, StepDetail(Note.INTERRUPTED))
                why = "BlockWatch shut down while this step ran"
                said = Event(AuditAction.STEP_INTERRUPTED, actor, "interrupted", step, detail=why)
                with contextlib.suppress(errors.BlockWatchError):  # then upkeep parks it
                    await self._ledger.change(case_id, self._finish(step, parked, said, attempt))
                raise
            said = Event(
                AuditAction.STEP_FINISHED,
                actor,
                outcome.status.value,
                step,
                outcome.facts(),
                detail or _why(outcome),
            )
            try:
                await self._ledger.record_outcome(
                    case_id, self._finish(step, outcome, said, attempt)
                )
            except asyncio.CancelledError:
                log.error(  # the outcome is lost with the process: say what it was
                    "stopped before a step's outcome could be recorded",
                    extra={"case": case_id, "step": step.value, "status": outcome.status.value},
                )
                raise
        finally:
            self.running.pop((case_id, step), None)
        metrics.STEP_OUTCOMES.labels(step.value, outcome.status.value).inc()
        await self._ledger.record_outcome(case_id, settling)
        return outcome.status is StepStatus.DONE

    async def _attempt(
        self,
        case_id: str,
        step: StepName,
        actor: Actor,
        address: Address | None,
        private_text: str,
        options: StepOptions,
    ) -> tuple[Outcome, str]:
        """Do the step: its outcome and, when it failed, what the audit trail says why."""
        try:
            case = await self._ledger.get(case_id)
            if case is None:
                raise errors.UnknownCase("the case is gone")

            async def tell_privately(secret: str) -> None:
                assert address is not None
                text = private_text.format(upn=case.upn, password=secret)
                try:
                    await self._private.tell(actor, address, text)
                except Exception as err:
                    raise errors.NotDelivered(f"{type(err).__name__}: {err}"[:300]) from err

            reading = await self._investigator.reader(case)

            async def read(name: SectionName) -> Section:
                return await self._investigator.read(reading, name)

            current = await self._ledger.get(case_id) or case
            told = tell_privately if address is not None else None
            run = StepRun(current, self._tenant, options, told, read)
            return await spec_of(step).run(run), ""
        except errors.BlockWatchError as err:
            failed = Outcome(StepStatus.FAILED, StepDetail.failed(errors.problem_of(err)))
            return failed, f"{type(err).__name__}: {err}"
        except Exception as err:
            log.exception("checklist step failed unexpectedly", extra={"step": step.value})
            problem = errors.unexpected(correlation_id.get())
            detail = f"{type(err).__name__} (see the log under this correlation id)"
            return Outcome(StepStatus.FAILED, StepDetail.failed(problem)), detail

    def _finish(self, step: StepName, outcome: Outcome, said: Event, attempt: int) -> Decide:
        """The change that records how this runner's run (`attempt`) of `step` ended: while it
        is running here, or after another replica took it for dead (interrupted, not retried
        since) — the real outcome is better than "interrupted"."""

        def finish(case: Case) -> Change | None:
            running = case.step(step)
            mine = running.status is StepStatus.RUNNING and running.runner == self.runner
            taken = (
                running.status is StepStatus.INTERRUPTED
                and running.attempt == attempt
                and outcome.status is not StepStatus.INTERRUPTED
            )
            if not (mine or taken):
                return None
            ended = StepWrite(step, outcome.status, outcome.detail, outcome.undo)
            return Change(said, step=ended)

        return finish


def _why(outcome: Outcome) -> str:
    """What the audit trail says about a step that did not finish."""
    problem = outcome.detail.problem
    if outcome.status is StepStatus.DONE or problem is None:
        return "" if outcome.status is StepStatus.DONE else outcome.detail.note.value
    said = problem.message or problem.missing
    return f"{outcome.detail.note.value}: {problem.kind.value} ({problem.service}) {said}".strip()


def _picks(options: StepOptions) -> dict[str, str]:
    """What the audit trail records about the admin's picks."""
    found = {}
    if options.rules is not None:
        found["rules"] = ",".join(options.rules)
    if options.remove:
        found["remove"] = ",".join(options.remove)
    return found
