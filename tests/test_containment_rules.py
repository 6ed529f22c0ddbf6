"""The automatic containment policy's rules and its work, through the workflow's ports in memory
(tests/workflow.py). The same policy against the simulated tenant, through Teams' protocol, is
in tests/test_containment.py."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from bot.cases.contained import Hold, Mode
from bot.cases.containment import AUTOMATIC, ContainmentPolicy
from bot.cases.evidence import Evidence, Section, SectionName, SectionStatus, Why
from bot.cases.model import Case, CaseState, Notice
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.ports import AuditAction, Change, Event, StepWrite
from bot.cases.sections.consents import ConsentFinding
from bot.cases.sections.forwarding import ForwardingFinding
from bot.cases.sections.mfa import MethodFinding
from bot.cases.sections.risk import RiskFinding
from bot.cases.sections.rules import RuleFinding
from bot.cases.sections.sign_ins import CountriesFinding
from bot.cases.strength import READS, Sign, Verdict, assess
from bot.errors import DatabaseUnavailable, Problem, ProblemKind
from tests.workflow import ALEX, HERE, SAM, Workflow, replica, workflow

AT = datetime(2026, 12, 7, 3, 10, tzinfo=UTC)
ON = ContainmentPolicy(Mode.ON)
SECRET = "Temporary password for {upn}: {password}"


def _read(name: str, *findings: object) -> Section:
    return Section(SectionName(name), SectionStatus.READ, tuple(findings))  # type: ignore[arg-type]


def _evidence(*sections: Section) -> Evidence:
    given = {s.name for s in sections}
    empty = tuple(_read(n) for n in READS if n not in given)
    return Evidence(AT, (*sections, *empty))


FORWARDING = _read("forwarding", ForwardingFinding("x@evil.example", why=(Why.FORWARDS_EXTERNAL,)))
HIDDEN = _read("rules", RuleFinding("r1", ".", True, hidden=True, why=(Why.HIDDEN,)))
RISK = _read("risk", RiskFinding("high", "atRisk", (Why.RISKY,)))
CONSENT = _read(
    "consents", ConsentFinding("App", "Mail.Read", why=(Why.MAIL_ACCESS, Why.UNVERIFIED_APP))
)


# ---- the rules ------------------------------------------------------------------------------


def test_forwarding_and_a_second_sign_is_strong() -> None:
    found = assess(_evidence(FORWARDING, HIDDEN))
    assert found.verdict is Verdict.STRONG
    assert found.signs == (Sign.FORWARDING, Sign.HIDDEN_RULE)


def test_two_signs_without_forwarding_are_strong_one_is_weak() -> None:
    assert assess(_evidence(RISK, CONSENT)).verdict is Verdict.STRONG
    assert assess(_evidence(RISK)).verdict is Verdict.WEAK
    assert assess(_evidence(FORWARDING)).verdict is Verdict.WEAK  # forwarding alone
    assert assess(_evidence()).verdict is Verdict.WEAK


def test_a_disabled_rule_or_a_harmless_one_is_no_sign() -> None:
    off = _read("rules", RuleFinding("r1", ".", False, hidden=True, why=(Why.HIDDEN,)))
    harmless = _read("rules", RuleFinding("r2", "Newsletter", True, folder="Newsletters"))
    assert assess(_evidence(FORWARDING, off)).signs == (Sign.FORWARDING,)
    assert assess(_evidence(FORWARDING, harmless)).signs == (Sign.FORWARDING,)


def test_a_new_country_needs_a_new_method_to_be_a_sign() -> None:
    place = _read("sign_ins", CountriesFinding(("NL", "NG"), 4, 0, why=(Why.SEVERAL_COUNTRIES,)))
    method = _read("mfa", MethodFinding("m1", "phone", "+234", why=(Why.RECENT_METHOD,)))
    assert assess(_evidence(place, RISK)).signs == (Sign.RISK,)
    assert assess(_evidence(place, method, RISK)).verdict is Verdict.STRONG


def test_could_not_read_is_never_nothing_found() -> None:
    refused = Section(
        SectionName("rules"), SectionStatus.UNREADABLE, problem=Problem(ProblemKind.FORBIDDEN)
    )
    found = assess(_evidence(FORWARDING, refused))
    assert found.verdict is Verdict.UNREAD
    assert found.unread == (SectionName("rules"),)
    # Strong on what was read: the unread section cannot make it weaker.
    assert assess(_evidence(FORWARDING, RISK, refused)).verdict is Verdict.STRONG
    licence = Section(
        SectionName("risk"), SectionStatus.NOT_APPLICABLE, problem=Problem(ProblemKind.FORBIDDEN)
    )
    assert assess(_evidence(FORWARDING, licence)).verdict is Verdict.WEAK  # nothing to wait for
    assert assess(None).verdict is Verdict.UNREAD


# ---- the policy at work ---------------------------------------------------------------------


async def _restricted(flow: Workflow) -> Case:
    """The watcher opened the case and the investigation ran (the policy decided after it)."""
    case = await flow.service.sync([flow.tenant.sender()])
    opened = next(iter(case.values()))
    await flow.service.watch_for_containment([opened])
    await flow.service.ensure_investigation(opened, AUTOMATIC)
    await flow.service.idle()
    found = await flow.service.get(opened.id)
    assert found is not None
    return found


async def test_strong_evidence_is_contained_with_no_click_and_the_release_is_one_click() -> None:
    flow = workflow(containment=ON)
    case = await _restricted(flow)
    record = case.containment
    assert record is not None
    assert record.acts
    assert record.contained_at is not None
    assert record.signs == (Sign.FORWARDING, Sign.HIDDEN_RULE, Sign.HIDING_RULE)
    tenant = flow.tenant
    assert (tenant.revoked, tenant.forwarding, tenant.rules, tenant.blocked) == (
        1,
        None,
        {"rule-1": False},
        True,
    )
    assert tenant.passwords == 0  # not in the default steps
    for name in ON.steps:
        assert case.step(name).status is StepStatus.DONE
        assert case.step(name).actor_name == "BlockWatch (automatic containment)"
    # Sign-in blocked stands in for the password reset: the case is ready to release.
    assert case.state is CaseState.READY
    assert case.release_ready
    started = [e for e in flow.audit.events if e.action == "step_started:revoke_sessions"]
    assert started[0].actor_name == "BlockWatch (automatic containment)"
    assert started[0].parameters["signs"] == "forwarding,hidden_rule,hiding_rule"
    assert "containment_decided" in flow.audit.actions(case.id)
    assert "contained" in flow.audit.actions(case.id)


async def test_undo_puts_back_exactly_what_the_policy_changed() -> None:
    flow = workflow(containment=ON)
    case = await _restricted(flow)
    answer = await flow.service.undo_containment(case.id, case.version, ALEX)
    assert answer.notice is None
    await flow.service.idle()
    undone = await flow.service.get(case.id)
    assert undone is not None
    assert undone.containment is not None
    tenant = flow.tenant
    assert tenant.forwarding == "smtp:exfil@attacker.example"
    assert tenant.rules == {"rule-1": True}
    assert tenant.blocked is False
    assert tenant.revoked == 1  # sessions stay revoked: they cannot come back
    assert undone.containment.undone_by == "Alex"
    assert undone.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
    for name in (StepName.REMOVE_FORWARDING, StepName.DISABLE_RULES, StepName.BLOCK_SIGN_IN):
        assert undone.step(name).status is StepStatus.NOT_RUN
        detail = undone.step(name).detail
        assert detail is not None
        assert detail.note is Note.UNDONE
    assert undone.state is CaseState.REMEDIATING  # a normal open case again
    assert not undone.can_undo_containment
    again = await flow.service.undo_containment(undone.id, undone.version, ALEX)
    assert again.notice is Notice.NOTHING_TO_UNDO


async def test_give_the_account_back_tells_the_clicker_privately_and_allows_sign_in() -> None:
    flow = workflow(containment=ON)
    case = await _restricted(flow)
    assert not case.can_give_back  # open: Undo containment is the approvers' way back
    refused = await flow.service.give_back(case.id, case.version, SAM, HERE, private_text=SECRET)
    assert refused.notice is Notice.NOTHING_TO_UNDO
    await flow.service.release(case.id, case.version, ALEX)
    await flow.service.idle()
    released = await flow.service.get(case.id)
    assert released is not None
    assert released.state is CaseState.VERIFIED
    assert released.can_give_back
    await flow.service.give_back(released.id, released.version, SAM, HERE, private_text=SECRET)
    await flow.service.idle()
    back = await flow.service.get(case.id)
    assert back is not None
    assert back.containment is not None
    assert flow.tenant.passwords == 1
    assert flow.tenant.blocked is False
    assert [who for who, _ in flow.private.told] == [SAM.key]
    assert back.containment.given_back_by == "Sam"
    assert back.step(StepName.RESET_PASSWORD).status is StepStatus.DONE
    assert back.step(StepName.BLOCK_SIGN_IN).status is StepStatus.NOT_RUN
    assert not back.can_give_back
    told = flow.private.told[0][1]
    assert all(told not in (e.detail + str(e.parameters)) for e in flow.audit.events)


async def test_the_policy_shuts_the_door_before_it_ends_the_sessions() -> None:
    flow = workflow(containment=ON)
    case = await _restricted(flow)
    started = [e.action for e in flow.audit.events if e.action.startswith("step_started:")]
    assert started == [
        "step_started:block_sign_in",
        "step_started:revoke_sessions",
        "step_started:remove_forwarding",
        "step_started:disable_rules",
    ]
    assert case.containment is not None


async def test_undo_withdraws_a_release_request_made_while_contained() -> None:
    flow = workflow(containment=ON, four_eyes=True)
    case = await _restricted(flow)
    asked = await flow.service.release(case.id, case.version, ALEX)
    assert asked.case.awaiting_approval
    await flow.service.undo_containment(asked.case.id, asked.case.version, ALEX)
    await flow.service.idle()
    undone = await flow.service.get(case.id)
    assert undone is not None
    assert not undone.awaiting_approval
    approved = await flow.service.approve(undone.id, undone.version, SAM)
    assert approved.notice is Notice.NOTHING_TO_APPROVE
    assert flow.tenant.released == 0


async def test_an_approval_of_a_case_no_longer_ready_is_refused() -> None:
    flow = workflow(containment=ON, four_eyes=True)
    case = await _restricted(flow)
    asked = await flow.service.release(case.id, case.version, ALEX)
    # The case goes back under the request (sign-in allowed again outside the undo).
    step = StepWrite(StepName.BLOCK_SIGN_IN, StepStatus.NOT_RUN, StepDetail(Note.UNDONE))
    said = Event(AuditAction.STEP_FINISHED, ALEX, "done", StepName.BLOCK_SIGN_IN)
    await flow.ledger.change(case.id, lambda _: Change(said, step=step))
    current = await flow.service.get(case.id)
    assert current is not None
    assert current.awaiting_approval
    approved = await flow.service.approve(current.id, current.version, SAM)
    assert approved.notice is Notice.NOT_RELEASABLE
    assert flow.tenant.released == 0
    assert asked.notice is Notice.APPROVAL_NEEDED


async def test_a_step_that_cannot_be_undone_does_not_stop_the_others() -> None:
    flow = workflow(containment=ON)
    case = await _restricted(flow)
    flow.tenant.enable_refused = True  # Exchange refuses Enable-InboxRule
    await flow.service.undo_containment(case.id, case.version, ALEX)
    await flow.service.idle()
    partly = await flow.service.get(case.id)
    assert partly is not None
    assert partly.containment is not None
    assert flow.tenant.blocked is False
    assert flow.tenant.forwarding == "smtp:exfil@attacker.example"
    assert flow.tenant.rules == {"rule-1": False}
    assert partly.containment.undone_at is None
    assert partly.containment.problem is not None
    assert partly.step(StepName.DISABLE_RULES).status is StepStatus.DONE
    assert partly.can_undo_containment  # offered again, for what is left
    flow.tenant.enable_refused = False
    await flow.service.undo_containment(partly.id, partly.version, ALEX)
    await flow.service.idle()
    done = await flow.service.get(case.id)
    assert done is not None
    assert done.containment is not None
    assert flow.tenant.rules == {"rule-1": True}
    assert done.containment.undone_at is not None
    assert done.containment.kept == (StepName.REVOKE_SESSIONS,)


async def test_weak_evidence_is_left_alone_and_says_why() -> None:
    flow = workflow(containment=ON)
    flow.tenant.forwarding = None
    flow.tenant.rules = {}
    case = await _restricted(flow)
    assert case.containment is not None
    assert case.containment.verdict is Verdict.WEAK
    assert not case.containment.acts
    assert flow.tenant.revoked == 0
    assert flow.tenant.blocked is False
    assert case.state is CaseState.INVESTIGATED


async def test_unread_inbox_rules_are_not_nothing_found() -> None:
    flow = workflow(containment=ON)
    flow.tenant.rules_refused = True
    case = await _restricted(flow)
    assert case.containment is not None
    assert case.containment.verdict is Verdict.UNREAD
    assert case.containment.unread == (SectionName("rules"),)
    assert flow.tenant.forwarding is not None
    assert flow.tenant.revoked == 0


@pytest.mark.parametrize("excluded", ["id", "group"])
async def test_excluded_users_are_never_touched(excluded: str) -> None:
    group = "0b5e0b5e-0000-4000-8000-000000000001"
    policy = dataclasses.replace(
        ON,
        exclude_ids=frozenset({"3f2a1b7c-0000-4000-8000-000000000001"} if excluded == "id" else ()),
        exclude_groups=frozenset({group}),
    )
    flow = workflow(containment=policy)
    flow.tenant.groups = {group} if excluded == "group" else set()
    case = await _restricted(flow)
    assert case.containment is not None
    wanted = Hold.EXCLUDED_USER if excluded == "id" else Hold.EXCLUDED_GROUP
    assert case.containment.hold is wanted
    assert not case.containment.acts
    assert (flow.tenant.revoked, flow.tenant.blocked) == (0, False)


async def test_dry_run_changes_nothing_and_says_what_it_would_have_done() -> None:
    flow = workflow(containment=ContainmentPolicy(Mode.DRY_RUN))
    case = await _restricted(flow)
    assert case.containment is not None
    assert case.containment.would_act
    assert case.containment.steps == ON.steps
    tenant = flow.tenant
    assert (tenant.revoked, tenant.forwarding, tenant.blocked) == (
        0,
        "smtp:exfil@attacker.example",
        False,
    )


async def test_the_switch_overrides_the_setting_for_every_replica() -> None:
    flow = workflow(containment=ON)
    other = replica(flow, "r2")
    await other.containment.switch(Mode.OFF, ALEX)  # the kill switch, thrown elsewhere
    case = await _restricted(flow)
    assert case.containment is None
    assert flow.tenant.revoked == 0
    switched = [e for e in flow.audit.events if e.action == "containment_mode"]
    assert switched[0].result == "off"
    assert switched[0].actor_name == "Alex"


async def test_an_account_defender_disabled_is_never_enabled_again() -> None:
    flow = workflow(containment=ON)
    flow.tenant.blocked = True  # attack disruption got there first
    case = await _restricted(flow)
    blocked = case.step(StepName.BLOCK_SIGN_IN)
    assert blocked.detail is not None
    assert blocked.detail.note is Note.ALREADY_BLOCKED
    assert blocked.undo is None
    assert not case.can_give_back
    await flow.service.undo_containment(case.id, case.version, ALEX)
    await flow.service.idle()
    assert flow.tenant.blocked is True  # undo included


async def test_on_premises_accounts_skip_block_sign_in_and_the_rest_runs() -> None:
    flow = workflow(containment=ON)
    flow.tenant.on_premises = True
    case = await _restricted(flow)
    blocked = case.step(StepName.BLOCK_SIGN_IN)
    assert blocked.status is StepStatus.SKIPPED
    assert blocked.detail is not None
    assert blocked.detail.note is Note.ON_PREMISES
    assert flow.tenant.revoked == 1
    assert flow.tenant.forwarding is None
    assert not case.release_ready  # no block: a password reset is still needed


async def test_two_replicas_decide_and_contain_once() -> None:
    flow = workflow(containment=ON)
    other = replica(flow, "r2")
    opened = next(iter((await flow.service.sync([flow.tenant.sender()])).values()))
    await flow.service.watch_for_containment([opened])
    await flow.service.ensure_investigation(opened, AUTOMATIC)
    await flow.service.idle()
    await other.containment.consider(opened.id)  # a second look, elsewhere
    await other.idle()
    assert flow.tenant.revoked == 1
    decided = [e for e in flow.audit.events if e.action == "containment_decided"]
    assert len(decided) == 1


async def test_a_human_click_on_the_same_step_wins_once() -> None:
    flow = workflow(containment=ON)
    flow.tenant.revoke_gate = gate = asyncio.Event()
    opened = next(iter((await flow.service.sync([flow.tenant.sender()])).values()))
    await flow.service.watch_for_containment([opened])
    await flow.service.ensure_investigation(opened, AUTOMATIC)
    # An admin starts step 2 while the investigation is still running: theirs is the claim.
    mine = await flow.service.run_step(
        opened.id, opened.version + 2, StepName.REVOKE_SESSIONS, ALEX, HERE, private_text=SECRET
    )
    assert mine.notice is None
    for _ in range(400):
        await asyncio.sleep(0.005)
        case = await flow.service.get(opened.id)
        if case and case.containment and case.containment.contained_at:
            break
    gate.set()
    await flow.service.idle()
    case = await flow.service.get(opened.id)
    assert case is not None
    assert flow.tenant.revoked == 1
    revoke = case.step(StepName.REVOKE_SESSIONS)
    assert (revoke.attempt, revoke.actor_name) == (1, "Alex")
    assert case.step(StepName.BLOCK_SIGN_IN).actor_name == "BlockWatch (automatic containment)"


async def test_containment_whose_runner_died_ends_visibly() -> None:
    flow = workflow(containment=ON)
    flow.tenant.revoke_gate = gate = asyncio.Event()
    opened = next(iter((await flow.service.sync([flow.tenant.sender()])).values()))
    await flow.service.watch_for_containment([opened])
    await flow.service.ensure_investigation(opened, AUTOMATIC)
    for _ in range(200):
        await asyncio.sleep(0.005)
        case = await flow.service.get(opened.id)
        if case and case.containment and case.containment.in_flight:
            break
    # This process forgets it was containing (as if its task died), then upkeep runs.
    flow.service.containment.working.clear()
    flow.service._checklist.running.clear()
    await flow.service.upkeep()
    gate.set()
    await flow.service.idle()
    case = await flow.service.get(opened.id)
    assert case is not None
    assert case.containment is not None
    assert case.containment.stopped
    assert case.containment.in_flight is None
    assert "containment_stopped" in flow.audit.actions(case.id)


async def test_a_case_an_admin_opens_is_theirs_not_the_policys() -> None:
    flow = workflow(containment=ON)
    case = await flow.service.open(flow.tenant.sender(), ALEX)  # restricted before, opened now
    await flow.service.idle()
    opened = await flow.service.get(case.id)
    assert opened is not None
    assert opened.containment is None
    assert flow.tenant.revoked == 0


async def test_switched_off_while_waiting_the_case_stays_with_the_admins() -> None:
    flow = workflow(containment=ON)
    opened = next(iter((await flow.service.sync([flow.tenant.sender()])).values()))
    await flow.service.watch_for_containment([opened])  # pending: the policy was on
    await flow.service.containment.switch(Mode.OFF, ALEX)
    await flow.service.ensure_investigation(opened, AUTOMATIC)
    await flow.service.idle()
    await flow.service.containment.switch(Mode.ON, ALEX)  # on again later
    await flow.service.upkeep()
    await flow.service.idle()
    case = await flow.service.get(opened.id)
    assert case is not None
    assert case.containment is not None
    assert case.containment.mode is Mode.OFF
    assert flow.tenant.revoked == 0
    decided = [e for e in flow.audit.events if e.action == "containment_decided"]
    assert [e.result for e in decided] == ["off"]


async def test_a_decision_that_failed_is_made_by_upkeep() -> None:
    flow = workflow(containment=ON)
    opened = next(iter((await flow.service.sync([flow.tenant.sender()])).values()))
    await flow.service.watch_for_containment([opened])
    read_mode = flow.switch.containment_mode

    async def database_gone() -> str | None:
        raise DatabaseUnavailable("the connection failed")

    flow.switch.containment_mode = database_gone  # type: ignore[method-assign]
    await flow.service.ensure_investigation(opened, AUTOMATIC)
    await flow.service.idle()
    waiting = await flow.service.get(opened.id)
    assert waiting is not None
    assert waiting.containment is not None
    assert waiting.containment.verdict is Verdict.PENDING
    flow.switch.containment_mode = read_mode  # type: ignore[method-assign]
    await flow.service.upkeep()
    await flow.service.idle()
    case = await flow.service.get(opened.id)
    assert case is not None
    assert case.containment is not None
    assert case.containment.contained_at is not None
    assert flow.tenant.revoked == 1
