"""Running the compromised-account checklist: claim a step once, run it in the background, record
how it ended. A step always ends: done, failed (with the reason; a bug with the correlation id),
or interrupted when BlockWatch stops. Every end is audited and a failed step offers Retry."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot import errors, metrics
from bot.cases.background import Background
from bot.cases.evidence import Section, SectionName
from bot.cases.investigator import Investigator
from bot.cases.ledger import CaseLedger
from bot.cases.model import RECOMMENDED, Case, CaseState, Note, StepDetail, StepName, StepStatus
from bot.cases.steps import STEPS, Outcome, StepOptions, StepRun
from bot.core.people import Actor, Address
from bot.logs import correlation_id
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient

log = logging.getLogger(__name__)


class PrivateChannel(Protocol):
    """Delivers a message to one admin only (a 1:1 chat), never to a group or channel."""

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        """Send `text` to `actor` privately (the click came from `address`)."""
        ...


class Checklist:
    """Claims, runs and records checklist steps."""

    def __init__(
        self,
        ledger: CaseLedger,
        investigator: Investigator,
        exchange: ExchangeClient,
        graph: GraphClient,
        private: PrivateChannel,
        background: Background,
        *,
        runner: str,
    ) -> None:
        self._ledger = ledger
        self._investigator = investigator
        self._exchange = exchange
        self._graph = graph
        self._private = private
        self._background = background
        self.runner = runner

    async def claim(self, case: Case, step: StepName, actor: Actor, options: StepOptions) -> bool:
        """Claim `step` (one caller wins), audit the start and leave "investigated"."""
        if not case.can_start(step):
            return False
        if not await self._ledger.start_step(case.id, step, runner=self.runner, actor=actor):
            return False
        await self._ledger.audit(
            actor, f"step_started:{step.value}", case, "running", parameters=_picks(options)
        )
        if case.state in (CaseState.RESTRICTED, CaseState.INVESTIGATING, CaseState.INVESTIGATED):
            await self._ledger.touch(case.id, state=CaseState.REMEDIATING)
        return True

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
        self._background.spawn(work, f"step:{case_id}:{step.value}")

    async def start_recommended(
        self, case: Case, actor: Actor, address: Address, private_text: str
    ) -> None:
        """Claim the first recommended step now (the answer shows it running) and run steps
        1-4 in order in the background, stopping at the first one that does not finish."""
        await self._ledger.audit(actor, "recommended_started", case, "running")
        first = next((s for s in RECOMMENDED if case.can_start(s)), None)
        if first is None or not await self.claim(case, first, actor, StepOptions()):
            return
        work = self._recommended(case.id, first, actor, address, private_text)
        self._background.spawn(work, f"recommended:{case.id}")

    async def _recommended(
        self, case_id: str, first: StepName, actor: Actor, address: Address, private_text: str
    ) -> None:
        if not await self._run(case_id, first, actor, address, private_text, StepOptions()):
            return
        for step in RECOMMENDED[RECOMMENDED.index(first) + 1 :]:
            case = await self._ledger.get(case_id)
            if case is None or not case.can_start(step):
                if case is not None and case.step(step).status is StepStatus.RUNNING:
                    return  # someone else is running it: leave the rest to them
                continue
            if not await self.claim(case, step, actor, StepOptions()):
                return  # someone else claimed it first
            if not await self._run(case_id, step, actor, address, private_text, StepOptions()):
                return

    async def skip(self, case: Case, step: StepName, reason: str, actor: Actor) -> None:
        """Skip a recommended step with a written reason (audited)."""
        if step in case.skippable and await self._ledger.skip_step(case.id, step, reason, actor):
            await self._ledger.audit(
                actor, f"step_skipped:{step.value}", case, "skipped", parameters={"reason": reason}
            )
        await self._ledger.settle(case.id)

    async def _run(
        self,
        case_id: str,
        step: StepName,
        actor: Actor,
        address: Address,
        private_text: str,
        options: StepOptions,
    ) -> bool:
        case = await self._ledger.get(case_id)
        assert case is not None

        async def tell_privately(secret: str) -> None:
            text = private_text.format(upn=case.upn, password=secret)
            try:
                await self._private.tell(actor, address, text)
            except Exception as err:
                raise errors.NotDelivered(f"{type(err).__name__}: {err}"[:300]) from err

        detail = ""
        try:
            reading = await self._investigator.reader(case)

            async def read(name: SectionName) -> Section:
                return await self._investigator.read(reading, name)

            current = await self._ledger.get(case_id) or case
            run = StepRun(current, self._exchange, self._graph, options, tell_privately, read)
            outcome = await STEPS[step](run)
        except asyncio.CancelledError:
            # Shutting down past the grace period: park the step so a Retry is offered.
            parked = StepDetail(Note.INTERRUPTED)
            await self._ledger.finish_step(case_id, step, StepStatus.INTERRUPTED, parked)
            await self._ledger.audit(
                actor,
                f"step_interrupted:{step.value}",
                case,
                "interrupted",
                detail="BlockWatch shut down while this step ran",
            )
            raise
        except errors.BlockWatchError as err:
            outcome = Outcome(StepStatus.FAILED, StepDetail.failed(errors.problem_of(err)))
            detail = f"{type(err).__name__}: {err}"
        except Exception as err:
            log.exception("checklist step failed unexpectedly", extra={"step": step.value})
            outcome = Outcome(
                StepStatus.FAILED, StepDetail.failed(errors.unexpected(correlation_id.get()))
            )
            detail = f"{type(err).__name__} (see the log under this correlation id)"
        await self._ledger.finish_step(
            case_id, step, outcome.status, outcome.detail, undo=outcome.undo
        )
        metrics.STEP_OUTCOMES.labels(step.value, outcome.status.value).inc()
        await self._ledger.audit(
            actor,
            f"step_finished:{step.value}",
            case,
            outcome.status.value,
            parameters=outcome.facts(),
            detail=detail or _why(outcome),
        )
        await self._ledger.settle(case_id)
        return outcome.status is StepStatus.DONE


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
