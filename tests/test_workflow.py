"""The workflow's rules through its ports, with in-memory implementations (tests/workflow.py):
no database, no HTTP, no Teams. What the real store adds (the same rules in one transaction)
is in tests/test_change_path.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.cases.ledger import settled_state
from bot.cases.model import Case, CaseState, Notice
from bot.cases.outcomes import Note, StepName, StepStatus
from bot.cases.ports import AuditAction, Change, Event, StepWrite
from bot.errors import DeadlineExceeded
from tests.workflow import ALEX, HERE, SAM, UPN, Workflow, replica, workflow

SECRET = "Your password for {upn} is {password}"


async def _investigated(flow: Workflow) -> Case:
    case = await flow.service.open(flow.tenant.sender(), ALEX)
    await flow.service.idle()
    investigated = await flow.service.get(case.id)
    assert investigated is not None
    return investigated


async def _ready(flow: Workflow) -> Case:
    case = await _investigated(flow)
    await flow.service.run_recommended(case.id, case.version, ALEX, HERE, private_text=SECRET)
    await flow.service.idle()
    ready = await flow.service.get(case.id)
    assert ready is not None
    assert ready.state is CaseState.READY
    return ready


def _state_changes(flow: Workflow) -> list[tuple[CaseState, CaseState, str]]:
    """(from, to, audit action) of every applied change that moved a state."""
    return [
        (a.before.state, a.after.state, a.change.event.name if a.change.event else "")
        for a in flow.cases.applied
        if a.before.state is not a.after.state
    ]


async def test_from_restriction_to_verified_every_state_change_has_one_audit_event() -> None:
    flow = workflow()
    case = await _ready(flow)
    answer = await flow.service.release(case.id, case.version, ALEX)
    assert answer.notice is Notice.RELEASING
    await flow.service.idle()
    final = await flow.service.get(case.id)
    assert final is not None
    assert final.state is CaseState.VERIFIED
    assert (flow.tenant.forwarding, flow.tenant.rules, flow.tenant.released) == (
        None,
        {"rule-1": False},
        1,
    )
    assert _state_changes(flow) == [
        (CaseState.RESTRICTED, CaseState.INVESTIGATING, "investigation_started"),
        (CaseState.INVESTIGATING, CaseState.INVESTIGATED, "investigation_finished"),
        (CaseState.INVESTIGATED, CaseState.REMEDIATING, "step_started:reset_password"),
        (CaseState.REMEDIATING, CaseState.READY, "case_ready"),
        (CaseState.READY, CaseState.RELEASING, "release_started"),
        (CaseState.RELEASING, CaseState.RELEASED, "release"),
        (CaseState.RELEASED, CaseState.VERIFIED, "release_verified"),
    ]
    applied_events = [a.change.event.name for a in flow.cases.applied if a.change.event]
    recorded = flow.audit.actions(case.id)
    # Every event of an applied change is in the trail, plus the ones that change nothing.
    assert [a for a in recorded if a not in ("case_opened", "recommended_started")] == (
        applied_events
    )
    assert len(flow.private.told) == 1  # the temporary password, to Alex only
    assert flow.announced.cases.count(case.id) == len(flow.cases.applied) + 1


async def test_a_stale_writer_cannot_change_the_state() -> None:
    """The `touch` race: a release whose runner was given up for dead (upkeep moved the case
    back to ready, "interrupted") finishes late; its result must not overwrite that."""
    flow = workflow(runner="r1")
    case = await _ready(flow)
    flow.tenant.release_gate = asyncio.Event()
    await flow.service.release(case.id, case.version, ALEX)
    await asyncio.sleep(0)
    # r1's lease lapsed (a long pause): upkeep on another replica recovers the release.
    flow.tenant.restricted = True
    await replica(flow, "r2").upkeep()
    recovered = await flow.service.get(case.id)
    assert recovered is not None
    assert recovered.state is CaseState.READY
    flow.tenant.release_gate.set()  # the held call lands after all
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.state is CaseState.READY  # not "released" by the stale runner
    assert after.release_interrupted
    assert flow.audit.actions(case.id)[-1] == "release_interrupted"


async def test_a_change_is_decided_on_the_case_as_it_is_now() -> None:
    flow = workflow()
    case = await _investigated(flow)
    stale = case
    await flow.service.take(case.id, SAM, reassign=False)
    # A decision made on `stale` would overwrite Sam; the ledger re-decides on the new case.
    answer = await flow.service.take(stale.id, ALEX, reassign=False)
    assert answer.notice is Notice.OWNED
    now = await flow.service.get(case.id)
    assert now is not None
    assert now.owner_name == "Sam"
    assert flow.audit.actions(case.id).count("case_taken") == 1


async def test_a_click_on_an_old_card_changes_nothing() -> None:
    flow = workflow()
    case = await _ready(flow)
    await flow.service.add_note(case.id, "called Joost", ALEX)
    answer = await flow.service.release(case.id, case.version, ALEX)
    assert answer.notice is Notice.STALE
    assert flow.tenant.released == 0


async def test_a_state_change_without_an_audit_event_is_refused() -> None:
    flow = workflow()
    case = await _investigated(flow)
    with pytest.raises(ValueError, match="needs an audit event"):
        await flow.ledger.change(case.id, lambda _: Change(fields={"state": CaseState.READY}))
    unchanged = await flow.service.get(case.id)
    assert unchanged is not None
    assert unchanged.state is CaseState.INVESTIGATED


async def test_one_of_many_claims_runs_the_step() -> None:
    flow = workflow()
    case = await _investigated(flow)
    answers = await asyncio.gather(
        *[
            flow.service.run_step(
                case.id, case.version, StepName.REVOKE_SESSIONS, ALEX, HERE, private_text=SECRET
            )
            for _ in range(10)
        ]
    )
    await flow.service.idle()
    assert flow.tenant.revoked == 1
    assert [a.notice for a in answers].count(None) == 1
    assert flow.audit.actions(case.id).count("step_started:revoke_sessions") == 1


async def test_four_eyes_release_is_one_change_with_its_approval() -> None:
    flow = workflow(four_eyes=True)
    case = await _ready(flow)
    asked = await flow.service.release(case.id, case.version, ALEX)
    assert asked.notice is Notice.APPROVAL_NEEDED
    own = await flow.service.approve(case.id, asked.case.version, ALEX)
    assert own.notice is Notice.OWN_REQUEST
    approved = await flow.service.approve(case.id, asked.case.version, SAM)
    assert approved.notice is Notice.RELEASING
    await flow.service.idle()
    approving = [a for a in flow.cases.applied if a.after.state is CaseState.RELEASING]
    assert len(approving) == 1
    event = approving[0].change.event
    assert event is not None
    assert (event.action, event.actor) == (AuditAction.RELEASE_APPROVED, SAM)


async def test_steps_of_a_dead_runner_end_interrupted_and_are_audited_once() -> None:
    flow = workflow(runner="r1")
    case = await _investigated(flow)
    claimed = await flow.ledger.change(
        case.id,
        lambda c: Change(
            Event(AuditAction.STEP_STARTED, ALEX, "running", StepName.BLOCK_SIGN_IN),
            step=StepWrite(StepName.BLOCK_SIGN_IN, StepStatus.RUNNING, runner="gone", actor=ALEX),
        ),
    )
    assert claimed.done
    await flow.service.upkeep()
    await flow.service.upkeep()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.step(StepName.BLOCK_SIGN_IN).status is StepStatus.INTERRUPTED
    assert flow.audit.actions(case.id).count("step_interrupted:block_sign_in") == 1


def test_settled_state_is_a_pure_rule() -> None:
    flow = workflow()
    sender = flow.tenant.sender()
    assert sender.upn == UPN
    case = Case("c", UPN, CaseState.INVESTIGATING, 3, flow.clock())
    assert settled_state(case) is CaseState.INVESTIGATING  # no evidence yet


async def test_open_a_sender_the_tenant_lists_and_not_one_it_does_not() -> None:
    flow = workflow()
    case = await flow.service.open_sender(UPN, ALEX)
    assert case is not None
    assert case.state is CaseState.INVESTIGATING
    again = await flow.service.open_sender(UPN, SAM)
    assert again is not None
    assert again.id == case.id
    assert flow.audit.actions(case.id).count("investigation_started") == 1
    flow.tenant.restricted = False
    assert await flow.service.open_sender("someone.else@contoso.example", ALEX) is None


async def test_status_shows_the_open_case_else_opens_one_else_the_last_case() -> None:
    flow = workflow()
    opened = await flow.service.status_of(UPN, ALEX)
    assert opened is not None
    assert opened.state is CaseState.INVESTIGATING
    assert (await flow.service.status_of(UPN, SAM)) == await flow.service.get(opened.id)
    await flow.service.idle()
    flow.tenant.restricted = False
    await flow.service.released_elsewhere(UPN)
    last = await flow.service.status_of(UPN, ALEX)
    assert last is not None
    assert (last.id, last.state) == (opened.id, CaseState.VERIFIED)


async def test_an_outcome_is_recorded_when_the_database_answers_again() -> None:
    """The database drops the connection as the step records its outcome: the outcome is kept
    and recorded once it answers; the tenant is not asked twice."""
    flow = workflow()
    case = await _investigated(flow)
    flow.tenant.revoke_gate = asyncio.Event()
    await flow.service.run_step(
        case.id, case.version, StepName.REVOKE_SESSIONS, ALEX, HERE, private_text=SECRET
    )
    await asyncio.sleep(0)
    flow.cases.unreachable = 2  # the outcome's first two writes fail
    flow.tenant.revoke_gate.set()
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
    assert flow.tenant.revoked == 1
    assert flow.audit.actions(case.id).count("step_finished:revoke_sessions") == 1
    assert flow.cases.unreachable == 0


async def test_a_step_its_live_runner_lost_is_ended_by_upkeep() -> None:
    """A running step of this very process with no run in flight (its task ended without an
    outcome) is interrupted by upkeep, although its runner is alive."""
    flow = workflow(runner="r1")
    case = await _investigated(flow)
    running = StepWrite(StepName.REVOKE_SESSIONS, StepStatus.RUNNING, runner="r1", actor=ALEX)
    started = Event(AuditAction.STEP_STARTED, ALEX, "running", StepName.REVOKE_SESSIONS)
    await flow.ledger.change(case.id, lambda _: Change(started, step=running))
    await flow.service.upkeep()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
    assert after.can_retry(StepName.REVOKE_SESSIONS)


async def test_a_release_exchange_applied_whose_answer_was_lost_is_the_admins_release() -> None:
    flow = workflow(runner="r1")
    case = await _ready(flow)
    flow.tenant.release_gate = asyncio.Event()
    await flow.service.release(case.id, case.version, ALEX)
    await asyncio.sleep(0)
    flow.cases.unreachable = 10**6  # the database is gone for good as the answer comes back
    flow.tenant.release_gate.set()
    await asyncio.sleep(0.05)
    assert flow.tenant.released == 1
    await flow.service.shutdown(0)  # the release task gives up with the process's shutdown
    flow.cases.unreachable = 0
    flow2 = flow.service  # the same process: the release is no longer in flight
    await flow2.upkeep()
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.state in (CaseState.RELEASED, CaseState.VERIFIED)
    events = [e for e in flow.audit.events if e.case_id == case.id and e.action == "release"]
    assert [(e.actor_name, e.result) for e in events] == [("Alex", "done")]
    assert flow.tenant.released == 1


async def test_a_stopping_replica_starts_no_further_recommended_step() -> None:
    flow = workflow()
    case = await _investigated(flow)
    flow.tenant.revoke_gate = asyncio.Event()
    await flow.service.run_recommended(case.id, case.version, ALEX, HERE, private_text=SECRET)
    await asyncio.sleep(0.01)  # step 1 done, step 2 held in the tenant
    stopping = asyncio.create_task(flow.service.shutdown(5))
    await asyncio.sleep(0)
    flow.tenant.revoke_gate.set()  # step 2 finishes within the grace period
    await stopping
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
    assert after.step(StepName.REMOVE_FORWARDING).status is StepStatus.NOT_RUN
    assert flow.tenant.forwarding is not None  # step 3 never reached the tenant
    (stopped,) = [e for e in flow.audit.events if e.action == "recommended_stopped"]
    assert stopped.detail == (
        "BlockWatch was stopping; not started: remove_forwarding, disable_rules"
    )


async def test_a_release_exchange_applied_after_timing_out_is_the_admins_not_elsewhere() -> None:
    flow = workflow()
    case = await _ready(flow)
    flow.tenant.release_times_out = True
    await flow.service.release(case.id, case.version, ALEX)
    await flow.service.idle()
    failed = await flow.service.get(case.id)
    assert failed is not None
    assert failed.release_problem is not None  # Exchange did not say; the card says so
    flow.tenant.restricted = False  # the held call lands
    await flow.service.released_elsewhere(UPN)  # what the watcher reports
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.state is CaseState.VERIFIED
    actions = flow.audit.actions(case.id)
    assert "released_elsewhere" not in actions
    releases = [e for e in flow.audit.events if e.case_id == case.id and e.action == "release"]
    assert [(e.actor_name, e.result) for e in releases] == [("Alex", "failed"), ("Alex", "done")]


async def test_a_release_whose_answer_timed_out_but_took_effect_is_recorded_at_once() -> None:
    flow = workflow()
    case = await _ready(flow)

    async def applied_then_timed_out(upn: str) -> None:
        flow.tenant.restricted = False  # Exchange did it, but BlockWatch gave up waiting
        raise DeadlineExceeded("Exchange Online did not answer in time")

    flow.tenant.release_sender = applied_then_timed_out  # type: ignore[method-assign]
    flow.tenant.restricted = True
    await flow.service.release(case.id, case.version, ALEX)
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.state is CaseState.VERIFIED
    (release,) = [e for e in flow.audit.events if e.case_id == case.id and e.action == "release"]
    assert (release.actor_name, release.result) == ("Alex", "done")


async def test_the_real_outcome_replaces_interrupted_when_another_replica_gave_up_too_soon() -> (
    None
):
    """The database was down longer than the lease: another replica took this one for dead and
    marked its step interrupted; the outcome Microsoft gave is recorded all the same."""
    flow = workflow(runner="r1")
    case = await _investigated(flow)
    flow.tenant.revoke_gate = asyncio.Event()
    await flow.service.run_step(
        case.id, case.version, StepName.REVOKE_SESSIONS, ALEX, HERE, private_text=SECRET
    )
    await asyncio.sleep(0)
    await replica(flow, "r2").upkeep()  # r1's lease lapsed meanwhile
    interrupted = await flow.service.get(case.id)
    assert interrupted is not None
    assert interrupted.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
    flow.tenant.revoke_gate.set()
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
    actions = flow.audit.actions(case.id)
    assert actions.count("step_finished:revoke_sessions") == 1
    assert flow.tenant.revoked == 1


@pytest.mark.parametrize("changed", [True, False], ids=["reset-applied", "not-applied"])
async def test_an_interrupted_password_reset_is_read_from_entra_before_it_is_called_interrupted(
    changed: bool,
) -> None:
    flow = workflow(runner="r1")
    case = await _investigated(flow)
    running = StepWrite(
        StepName.RESET_PASSWORD, StepStatus.RUNNING, runner="gone", actor=ALEX, attempt=1
    )
    started = Event(AuditAction.STEP_STARTED, ALEX, "running", StepName.RESET_PASSWORD)
    await flow.ledger.change(case.id, lambda _: Change(started, step=running))
    if changed:  # the dead runner's reset reached Entra; nobody was told the password
        flow.tenant.password_changed = flow.clock() + timedelta(seconds=2)
    await flow.service.upkeep()
    after = await flow.service.get(case.id)
    assert after is not None
    step = after.step(StepName.RESET_PASSWORD)
    if changed:
        assert step.status is StepStatus.FAILED
        assert step.detail is not None
        assert step.detail.note is Note.PASSWORD_NOT_DELIVERED
        assert "step_finished:reset_password" in flow.audit.actions(case.id)
    else:
        assert step.status is StepStatus.INTERRUPTED
        assert "step_interrupted:reset_password" in flow.audit.actions(case.id)
    assert after.can_retry(StepName.RESET_PASSWORD)


async def test_a_step_stuck_past_its_deadline_is_ended_and_a_late_outcome_counts() -> None:
    flow = workflow(runner="r1")
    case = await _investigated(flow)
    flow.tenant.revoke_gate = asyncio.Event()  # the tenant never answers (until the end)
    await flow.service.run_step(
        case.id, case.version, StepName.REVOKE_SESSIONS, ALEX, HERE, private_text=SECRET
    )
    await asyncio.sleep(0)
    await flow.service.upkeep()  # within its deadline: left alone
    still = await flow.service.get(case.id)
    assert still is not None
    assert still.step(StepName.REVOKE_SESSIONS).status is StepStatus.RUNNING
    flow.clock.advance(flow.service.policy.work_deadline_seconds + 1)
    await flow.service.upkeep()
    ended = await flow.service.get(case.id)
    assert ended is not None
    assert ended.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
    flow.tenant.revoke_gate.set()  # Microsoft answers after all: that is what happened
    await flow.service.idle()
    after = await flow.service.get(case.id)
    assert after is not None
    assert after.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
