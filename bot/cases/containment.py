"""The automatic containment policy: contains a compromised account the moment its investigation
has read strong evidence (bot/cases/strength.py), with no click; and the two ways back an admin
has, Undo containment and Give the account back.

It acts as "BlockWatch (automatic containment)": every step it runs is claimed, run and recorded
by the checklist like an admin's click (the same compare-and-set claim, so it never runs a step
twice or races an admin's click on the same step), audited with the policy as the actor and the
signs that triggered it. It never touches an excluded user or a member of an excluded group,
and when the membership cannot be read it does not act. Its decision is written once per case
(compare-and-set on the case); its work in flight names its runner, and upkeep ends it visibly
when that runner is gone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import errors, metrics
from bot.cases.background import Background
from bot.cases.checklist import Checklist
from bot.cases.contained import Containment, Hold, InFlight, Mode, Work
from bot.cases.ledger import CaseLedger, settling
from bot.cases.model import Case, CaseState
from bot.cases.outcomes import StepName
from bot.cases.ports import (
    AuditAction,
    CaseChange,
    Change,
    Decide,
    Event,
    PolicySwitch,
    PrivateChannel,
)
from bot.cases.strength import Verdict, assess
from bot.cases.tenant_ports import Tenant
from bot.cases.waves import Result, contained
from bot.cases.ways_back import POLICY_NAME, WaysBack
from bot.core.audit import AuditEvent
from bot.core.people import Actor
from bot.logs import correlation_id

log = logging.getLogger(__name__)

AUTOMATIC = Actor("blockwatch:containment", "", POLICY_NAME)
# The order the policy runs its steps in: shut the door first (a new password, sign-in
# blocked), then end the sessions already open, then stop the mail leaving.
POLICY_ORDER = (
    StepName.RESET_PASSWORD,
    StepName.BLOCK_SIGN_IN,
    StepName.REVOKE_SESSIONS,
    StepName.REMOVE_FORWARDING,
    StepName.DISABLE_RULES,
)
DEFAULT_STEPS = POLICY_ORDER[1:]
POLICY_TARGET = "containment policy"  # the audit trail's target of a switch
HOLD_RETRY = timedelta(minutes=1)  # excluded groups that could not be read: ask again after


@dataclass(frozen=True)
class ContainmentPolicy:
    """AUTO_CONTAIN and its companions (the run-time switch overrides `mode`)."""

    mode: Mode = Mode.OFF
    steps: tuple[StepName, ...] = DEFAULT_STEPS
    exclude_ids: frozenset[str] = frozenset()  # Entra object ids, lower case
    exclude_groups: frozenset[str] = frozenset()


class AutoContainment:
    """Decides on each investigated case, contains it, and undoes or gives it back."""

    def __init__(
        self,
        ledger: CaseLedger,
        checklist: Checklist,
        tenant: Tenant,
        switch: PolicySwitch,
        private: PrivateChannel,
        background: Background,
        policy: ContainmentPolicy,
        *,
        runner: str,
    ) -> None:
        self._ledger = ledger
        self._checklist = checklist
        self._tenant = tenant
        self._switch = switch
        self._background = background
        self.policy = policy
        self.runner = runner
        # Cases whose work this process is doing, since when (upkeep's truth about its own).
        self.working: dict[str, datetime] = {}
        self.ways_back = WaysBack(ledger, tenant, private, background, self.working, runner=runner)

    # ---- the mode ---------------------------------------------------------------------------

    async def mode(self) -> Mode:
        """The mode now: as last switched from Teams (every replica), else the setting."""
        stored = await self._switch.containment_mode()
        try:
            mode = Mode(stored) if stored else self.policy.mode
        except ValueError:
            mode = self.policy.mode
        metrics.containment_mode(mode.value)
        return mode

    async def switch(self, mode: Mode, actor: Actor) -> None:
        """Switch the mode for every replica, audited in the same transaction."""
        now = self._ledger.now()
        event = AuditEvent(
            actor_id=actor.key,
            actor_name=actor.name,
            action="containment_mode",
            target=POLICY_TARGET,
            result=mode.value,
            at=now,
        )
        await self._switch.switch_containment(mode.value, now, event)
        metrics.containment_mode(mode.value)

    # ---- deciding and containing ---------------------------------------------------------------

    async def watch(self, cases: list[Case]) -> None:
        """New restrictions the watcher saw: the policy decides on each once its investigation
        has read the evidence (nothing when the policy is off)."""
        mode = await self.mode()
        if mode is Mode.OFF:
            return
        pending = Containment(mode, Verdict.PENDING, self._ledger.now())

        def mark(case: Case) -> Change | None:
            if case.containment is not None or not case.is_open or case.evidence is not None:
                return None
            return Change(fields=CaseChange(containment=pending))

        for case in cases:
            await self._ledger.change(case.id, mark)

    async def consider(self, case_id: str) -> None:
        """Decide on a case whose evidence was just read (once; again only after "unread"),
        and contain it in the background when the policy is on and the evidence is strong."""
        mode = await self.mode()
        case = await self._ledger.get(case_id)
        if case is None or not _undecided(case) or case.evidence is None:
            return
        if mode is Mode.OFF:  # switched off while the case waited: it is left to the admins
            left = Containment(mode, Verdict.PENDING, self._ledger.now())
            await self._ledger.change(case_id, _decision(left))
            return
        found = assess(case.evidence)
        if not found.strong and case.state is CaseState.INVESTIGATING:
            return  # what was read first is not enough: decide when the rest is read
        hold = await self._hold(case) if found.strong else None
        steps = self.policy.steps if found.strong and hold is None else ()
        now = self._ledger.now()
        record = Containment.decided(mode, found, now, hold=hold, steps=steps)
        if record.acts:
            record = dataclasses.replace(
                record, in_flight=InFlight(Work.CONTAIN, self.runner, AUTOMATIC.name, now)
            )
        decided = await self._ledger.change(case_id, _decision(record))
        if not decided.done:
            return
        metrics.CONTAINMENT_DECISIONS.labels(_result(record)).inc()
        if record.acts:
            self.working[case_id] = now
            if not self._background.spawn(self._contain(case_id, record), f"contain:{case_id}"):
                self.working.pop(case_id, None)  # stopping: upkeep elsewhere ends it

    async def _hold(self, case: Case) -> Hold | None:
        """Why the policy must leave this account alone, if it must."""
        user_id = (case.user_id or "").lower()
        if user_id in self.policy.exclude_ids:
            return Hold.EXCLUDED_USER
        if not self.policy.exclude_groups:
            return None
        try:
            groups = await self._tenant.group_ids(user_id)
        except errors.BlockWatchError as err:
            log.warning("group membership not read; not containing", extra={"error": str(err)})
            return Hold.GROUPS_UNREAD
        return Hold.EXCLUDED_GROUP if groups & self.policy.exclude_groups else None

    async def contain_now(self, case_id: str, actor: Actor, bulk_id: str) -> Result:
        """An admin's bulk containment of one case: the policy's steps on the same rules
        (strong evidence, exclusions), whatever AUTO_CONTAIN says, run now and recorded as the
        admin's, with the bulk action's id in every audit event."""
        case = await self._ledger.get(case_id)
        if case is None or not case.is_open or case.evidence is None or _contained(case):
            return Result.MOVED_ON
        earlier = case.containment
        if earlier is not None and (earlier.undone_at or earlier.given_back_at) is not None:
            return Result.UNDONE  # an admin judged it: a bulk action does not overrule them
        found = assess(case.evidence)
        if not found.strong:
            return Result.MOVED_ON
        if await self._hold(case) is not None:
            return Result.EXCLUDED
        now = self._ledger.now()
        record = dataclasses.replace(
            Containment.decided(Mode.ON, found, now, hold=None, steps=self.policy.steps),
            in_flight=InFlight(Work.CONTAIN, self.runner, actor.name, now),
            by=actor.name,
            bulk=bulk_id,
        )

        def claim(current: Case) -> Change | None:
            earlier = current.containment
            if not current.is_open or _contained(current):
                return None
            if earlier is not None and earlier.in_flight is not None:
                return None  # the policy (or another bulk action) is at it
            facts = {"bulk": bulk_id, "signs": ",".join(s.value for s in record.signs)}
            said = Event(AuditAction.CONTAINMENT_DECIDED, actor, "contain", None, facts)
            return Change(said, CaseChange(containment=record))

        if not (await self._ledger.change(case_id, claim)).done:
            return Result.MOVED_ON
        self.working[case_id] = now
        await self._contain(case_id, record, actor, {"bulk": bulk_id})
        return Result.DONE

    async def _contain(
        self,
        case_id: str,
        record: Containment,
        actor: Actor = AUTOMATIC,
        why: Mapping[str, str] | None = None,
    ) -> None:
        """Run the policy's steps in order; one that fails or is skipped never stops the rest.
        A step an admin already runs or ran is theirs. The work is this process's until its
        end is recorded (upkeep leaves it alone until then)."""
        signs = ",".join(s.value for s in record.signs)
        because = dict(why or {"policy": "auto_contain"}) | {"signs": signs}
        work = record.in_flight
        stopped = False
        try:
            for step in record.steps:
                case = await self._ledger.get(case_id)
                if case is None or case.containment is None or case.containment.in_flight != work:
                    break  # upkeep ended it (this process was taken for gone): start nothing
                if not case.can_start(step):
                    continue
                if not self._background.accepting:
                    stopped = True
                    break
                if await self._checklist.claim(case, step, actor, because=because):
                    await self._checklist.run_now(case_id, step, actor)
        except Exception as err:  # the database, or a bug: the containment ends visibly
            log.exception("automatic containment stopped", extra={"case": case_id})
            stopped = True
            because = {**because, "error": type(err).__name__, "reference": correlation_id.get()}
        try:
            ended = _finished(work, stopped, because, self._ledger.now(), actor)
            await self._ledger.record_outcome(case_id, ended)
        finally:
            self.working.pop(case_id, None)
        await self._ledger.record_outcome(case_id, settling)

    # ---- upkeep -------------------------------------------------------------------------------

    def disown_started_before(self, when: datetime) -> list[str]:
        """Give up work in flight here since before `when`: upkeep then ends it."""
        late = [case_id for case_id, since in self.working.items() if since < when]
        for case_id in late:
            self.working.pop(case_id, None)
        return late

    async def upkeep(self, alive: set[str], open_cases: list[Case]) -> None:
        """End the work whose runner is gone (or is this process, with nothing running it);
        decide on investigated cases still waiting (a decision that failed, say while the
        database did not answer; a hold because the excluded groups could not be read, a
        minute later); show the mode in /metrics. One case that fails never stops the round."""
        await self.mode()  # every replica's /metrics follows a switch made on another
        for case in await self._ledger.with_work_in_flight():
            work = case.containment.in_flight if case.containment else None
            if work is None:
                continue
            mine = work.runner == self.runner
            if (mine and case.id in self.working) or (not mine and work.runner in alive):
                continue
            await self._ledger.change(case.id, _stopped(work, self._ledger.now()))
            if case.is_open:
                await self._ledger.settle(case.id)
        retry_before = self._ledger.now() - HOLD_RETRY
        for case in open_cases:
            record = case.containment
            if record is None or not record.decide_again or case.evidence is None:
                continue
            pending = record.verdict is Verdict.PENDING
            held = record.hold is Hold.GROUPS_UNREAD and record.decided_at < retry_before
            if (pending and case.state is not CaseState.INVESTIGATING) or held:
                try:
                    await self.consider(case.id)
                except Exception:  # its card still says it waits; the next round tries again
                    log.exception("containment decision failed", extra={"case": case.id})


def _contained(case: Case) -> bool:
    """Contained, every step of it done, and not undone (bot/cases/waves.py says the same)."""
    return contained(case)


def _undecided(case: Case) -> bool:
    """Open, a new restriction the policy waits to decide on (or decided "unread")."""
    record = case.containment
    return case.is_open and record is not None and record.decide_again


def _decision(record: Containment) -> Decide:
    """Write the decision, unless another replica (or an earlier read) decided first."""

    def decide(case: Case) -> Change | None:
        if not _undecided(case):
            return None
        earlier = case.containment
        if (
            earlier is not None
            and earlier.verdict is Verdict.UNREAD
            and record.verdict is Verdict.UNREAD
            and earlier.unread == record.unread
        ):
            return None  # the same "could not read" again: nothing new to say
        if (
            earlier is not None
            and earlier.hold is Hold.GROUPS_UNREAD
            and record == dataclasses.replace(earlier, decided_at=record.decided_at)
        ):
            return Change(fields=CaseChange(containment=record))  # asked again: when, only
        facts = {
            "mode": record.mode.value,
            "signs": ",".join(s.value for s in record.signs),
            "unread": ",".join(record.unread),
            "steps": ",".join(s.value for s in record.steps),
        }
        said = Event(AuditAction.CONTAINMENT_DECIDED, AUTOMATIC, _result(record), None, facts)
        return Change(said, CaseChange(containment=record))

    return decide


def _result(record: Containment) -> str:
    """What the audit trail says the policy decided."""
    if record.mode is Mode.OFF:
        return "off"
    if record.acts:
        return "contain"
    if record.would_act:
        return "would_contain"
    return record.hold.value if record.hold else record.verdict.value


def _finished(
    work: InFlight | None,
    stopped: bool,
    facts: Mapping[str, str],
    now: datetime,
    actor: Actor = AUTOMATIC,
) -> Decide:
    """The policy's steps ended (all, or it stopped before every one ran): recorded once, by
    the claim that ran them."""

    def finish(case: Case) -> Change | None:
        record = case.containment
        if record is None or work is None or record.in_flight != work:
            return None
        ended = dataclasses.replace(record, in_flight=None, contained_at=now, stopped=stopped)
        statuses = {s.value: case.step(s).status.value for s in record.steps}
        action = AuditAction.CONTAINMENT_STOPPED if stopped else AuditAction.CONTAINED
        said = Event(action, actor, "stopped" if stopped else "done", None, {**statuses, **facts})
        return Change(said, CaseChange(containment=ended))

    return finish


def _stopped(work: InFlight, now: datetime) -> Decide:
    """Work whose runner is gone ends: containment as stopped, the ways back as interrupted
    (offered again)."""

    def stop(case: Case) -> Change | None:
        record = case.containment
        if record is None or record.in_flight != work:
            return None
        why = "the process doing this stopped before it finished"
        if work.work is Work.CONTAIN:
            ended = dataclasses.replace(record, in_flight=None, contained_at=now, stopped=True)
            said = Event(AuditAction.CONTAINMENT_STOPPED, AUTOMATIC, "stopped", detail=why)
        else:
            problem = errors.Problem(errors.ProblemKind.INTERRUPTED, "BlockWatch")
            ended = dataclasses.replace(record, in_flight=None, problem=problem)
            params = {"work": work.work.value}
            said = Event(AuditAction.WORK_FAILED, AUTOMATIC, "interrupted", None, params, why)
        return Change(said, CaseChange(containment=ended))

    return stop
