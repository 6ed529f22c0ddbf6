"""The workflow's rules through its ports, with in-memory implementations (tests/workflow.py):
no database, no HTTP, no Teams. What the real store adds (the same rules in one transaction)
is in tests/test_change_path.py."""

from __future__ import annotations

import asyncio

import pytest

from bot.cases.ledger import settled_state
from bot.cases.model import Case, CaseState, Notice
from bot.cases.outcomes import StepName, StepStatus
from bot.cases.ports import AuditAction, Change, Event, StepWrite
from tests.workflow import ALEX, HERE, SAM, UPN, Workflow, workflow

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
    flow.leases.alive.clear()  # r1's lease lapsed: upkeep on another replica recovers
    flow.tenant.restricted = True
    await flow.service.upkeep()
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
