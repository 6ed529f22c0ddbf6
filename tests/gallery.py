"""Every card BlockWatch sends, built from fixed data: the snapshot tests (tests/test_cards.py)
and the Adaptive Card schema check (tests/test_card_schema.py) go through the same list, so a
new card added here is checked both ways."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cases.contained import Containment, Mode
from bot.cases.evidence import Evidence, Section, SectionStatus, Why
from bot.cases.model import Case, CaseNote, CaseState, CloseReason, Notice, Step
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.sections import forwarding, mfa, risk, rules, sent
from bot.cases.sections.forwarding import ForwardingFinding
from bot.cases.sections.mfa import MethodFinding
from bot.cases.sections.rules import RuleFinding
from bot.cases.sections.sent import SentFinding
from bot.cases.steps.block_sign_in import SignInUndo
from bot.cases.steps.disable_rules import RulesUndo
from bot.cases.steps.remove_forwarding import ForwardingUndo
from bot.cases.strength import Sign, Verdict
from bot.cases.waves import BulkAction, BulkKind, Outcome, Result, Wave
from bot.chat.registry import help_lines
from bot.core.audit import AuditEvent
from bot.core.m365 import RestrictedSender, parse_reason
from bot.core.people import Role
from bot.errors import Problem, ProblemKind
from bot.i18n import Texts
from cards.alerts import digest_card, subscriptions_card
from cards.case import render_case
from cards.common import Card
from cards.history import audit_card, history_card
from cards.messages import error_card, help_card, pick_sender_card
from cards.portals import Cloud
from cards.senders import restricted_list_card, sender_gone_card
from cards.wave import render_wave

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BUDGET = 30_000
CASE_ID = "8f1d9c8e-0000-4000-8000-000000000001"
ALEX = "00000000-0000-0000-0000-0000000000a1"
MEGAN = "00000000-0000-0000-0000-0000000000b2"


def sender(
    upn: str, name: str | None, reason: str, minutes: int, temporary: bool = False
) -> RestrictedSender:
    when = NOW - timedelta(minutes=minutes)
    return RestrictedSender(upn, name, parse_reason(reason), when, when, temporary)


SENDERS = [
    sender(
        "joost@contoso.com",
        "Joost van den Bergh",
        "ExceedingLimitType=External;InternalRecipientCountToday=12;"
        "ExternalRecipientCountToday=1842",
        47,
    ),
    sender(
        "zoe@contoso.com",
        "Zoë Ångström-Núñez",
        "ExceedingLimitType=Internal;InternalRecipientCountToday=1311;"
        "ExternalRecipientCountToday=4",
        320,
    ),
    sender(
        "lukasz@contoso.com",
        None,
        "ExceedingLimitType=Total;InternalRecipientCountToday=640;ExternalRecipientCountToday=598",
        2900,
        temporary=True,
    ),
]


def _evidence() -> Evidence:
    return Evidence(
        NOW,
        (
            Section(
                rules.NAME,
                SectionStatus.READ,
                (
                    RuleFinding("1", ".", True, why=(Why.DELETES, Why.HIDDEN)),
                    RuleFinding("2", "Newsletter", True, folder="Newsletters"),
                ),
            ),
            Section(
                forwarding.NAME,
                SectionStatus.READ,
                (ForwardingFinding("x@evil.example", why=(Why.FORWARDS_EXTERNAL,)),),
            ),
            Section(
                risk.NAME,
                SectionStatus.NOT_APPLICABLE,
                problem=Problem(ProblemKind.NOT_AVAILABLE, missing="Microsoft Entra ID P2"),
            ),
            Section(
                sent.NAME,
                SectionStatus.READ,
                (SentFinding(420, 4, 3, (Why.HIGH_VOLUME,)),),
            ),
        ),
    )


def case(**overrides: Any) -> Case:
    """Joost's case, part way through the checklist (overrides: any field of `Case`)."""
    base: dict[str, Any] = {
        "id": CASE_ID,
        "upn": "joost@contoso.com",
        "state": CaseState.REMEDIATING,
        "version": 7,
        "opened_at": NOW,
        "display_name": "Joost van den Bergh",
        "reason": "ExceedingLimitType=External;ExternalRecipientCountToday=1842",
        "restricted_since": NOW - timedelta(minutes=47),
        "evidence": _evidence(),
        "steps": {
            StepName.RESET_PASSWORD: Step(
                StepName.RESET_PASSWORD,
                StepStatus.DONE,
                StepDetail(Note.PASSWORD_RESET),
                "Alex",
                1,
            )
        },
    }
    base.update(overrides)
    return Case(**base)


def _notes() -> tuple[CaseNote, ...]:
    words = ("Forwarding rule was his own", "MFA re-registered", "Called Joost", "Opened")
    return tuple(
        CaseNote("Megan", text, NOW - timedelta(minutes=10 * i), MEGAN)
        for i, text in enumerate(words)
    )


DONE = {
    StepName.RESET_PASSWORD: StepDetail(Note.PASSWORD_RESET),
    StepName.REVOKE_SESSIONS: StepDetail(Note.SESSIONS_REVOKED),
    StepName.REMOVE_FORWARDING: StepDetail(Note.FORWARDING_REMOVED, old="x@evil.example"),
    StepName.DISABLE_RULES: StepDetail(Note.RULES_DISABLED, names=(".",)),
    StepName.BLOCK_SIGN_IN: StepDetail(Note.SKIPPED, reason="kept signing in: he travels"),
    StepName.REMOVE_ROLES: StepDetail(Note.NO_ROLES),
    StepName.REVIEW_MFA: StepDetail(Note.MFA_CONFIRMED),
}


def _done_steps() -> dict[StepName, Step]:
    skipped = {StepName.BLOCK_SIGN_IN}
    return {
        name: Step(
            name, StepStatus.SKIPPED if name in skipped else StepStatus.DONE, detail, "Alex", 1
        )
        for name, detail in DONE.items()
    }


def cases() -> dict[str, tuple[Case, Role, frozenset[str]]]:
    """Case cards worth seeing: (case, the viewer's role, the viewer's ids) by name."""
    owned = case(owner_id=MEGAN, owner_name="Megan", notes=_notes(), note_count=4)
    methods = dataclasses.replace(
        _evidence(),
        sections=(
            *_evidence().sections,
            Section(
                mfa.NAME,
                SectionStatus.READ,
                (
                    MethodFinding(
                        "m1",
                        "microsoftAuthenticator",
                        "Authenticator on Pixel 9",
                        NOW,
                        (Why.RECENT_METHOD,),
                    ),
                ),
            ),
        ),
    )
    asked = case(
        steps=_done_steps(),
        state=CaseState.READY,
        release_requested_by=MEGAN,
        release_requested_name="Megan",
        release_requested_at=NOW - timedelta(minutes=3),
    )
    released = dict(
        released_at=NOW - timedelta(minutes=2), released_by=ALEX, released_by_name="Alex"
    )
    elsewhere = dict(closed_at=NOW, steps=_done_steps(), owner_id=MEGAN, owner_name="Megan")
    return {
        **_contained(),
        "case shared": (case(), Role.NONE, frozenset()),
        "case viewer": (case(), Role.VIEWER, frozenset({"v"})),
        "case responder": (case(), Role.RESPONDER, frozenset({"r"})),
        "case approver": (case(), Role.APPROVER, frozenset({ALEX})),
        "case investigating": (
            case(evidence=None, state=CaseState.INVESTIGATING),
            Role.RESPONDER,
            frozenset(),
        ),
        "case owned with notes": (owned, Role.RESPONDER, frozenset({"r"})),
        "case methods to review": (case(evidence=methods), Role.RESPONDER, frozenset({"r"})),
        "case ready": (
            case(steps=_done_steps(), state=CaseState.READY),
            Role.APPROVER,
            frozenset({ALEX}),
        ),
        "case waiting for the second approver": (asked, Role.APPROVER, frozenset({MEGAN})),
        "case the second approver approves": (asked, Role.APPROVER, frozenset({ALEX})),
        "case released": (
            case(steps=_done_steps(), state=CaseState.RELEASED, **released),
            Role.APPROVER,
            frozenset({ALEX}),
        ),
        "case verified": (
            case(steps=_done_steps(), state=CaseState.VERIFIED, closed_at=NOW, **released),
            Role.APPROVER,
            frozenset({ALEX}),
        ),
        "case released elsewhere": (
            case(state=CaseState.VERIFIED, **elsewhere),
            Role.RESPONDER,
            frozenset({"r"}),
        ),
        "case released elsewhere, reason given": (
            case(
                state=CaseState.VERIFIED,
                close_reason=CloseReason.HANDLED_ELSEWHERE,
                close_comment="Released by the SOC",
                **elsewhere,
            ),
            Role.APPROVER,
            frozenset({ALEX}),
        ),
    }


def _contained() -> dict[str, tuple[Case, Role, frozenset[str]]]:
    """Cases the automatic containment policy decided on."""
    policy = "BlockWatch (automatic containment)"
    signs = (Sign.FORWARDING, Sign.HIDDEN_RULE, Sign.RISK)
    steps = {
        name: Step(name, StepStatus.DONE, DONE[name], policy, 1, NOW, undo)
        for name, undo in (
            (StepName.REVOKE_SESSIONS, None),
            (StepName.REMOVE_FORWARDING, ForwardingUndo("x@evil.example", None, False)),
            (StepName.DISABLE_RULES, RulesUndo(("r1",))),
            (StepName.BLOCK_SIGN_IN, SignInUndo()),
        )
    }
    steps[StepName.BLOCK_SIGN_IN] = dataclasses.replace(
        steps[StepName.BLOCK_SIGN_IN], detail=StepDetail(Note.SIGN_IN_BLOCKED)
    )
    decided = NOW - timedelta(minutes=46, seconds=48)
    contained = Containment(
        Mode.ON,
        Verdict.STRONG,
        decided,
        signs,
        admin=True,
        steps=tuple(steps),
        contained_at=decided + timedelta(seconds=4),
    )
    weak = Containment(Mode.ON, Verdict.WEAK, decided, (Sign.RISK,))
    dry = dataclasses.replace(contained, mode=Mode.DRY_RUN, contained_at=None, admin=False)
    return {
        "case contained automatically": (
            case(state=CaseState.READY, steps=steps, containment=contained),
            Role.APPROVER,
            frozenset({ALEX}),
        ),
        "case not contained automatically": (
            case(containment=weak),
            Role.RESPONDER,
            frozenset({"r"}),
        ),
        "case dry run": (case(containment=dry), Role.NONE, frozenset()),
    }


def _waves(t: Texts) -> dict[str, Card]:
    """A wave of 14: half with strong evidence (two contained), one still investigated; as an
    approver sees it, and with a bulk containment under way (one case failed) as shared."""
    members = []
    for i in range(14):
        ids = f"8f1d9c8e-0000-4000-8000-0000000001{i:02d}"
        evidence = _evidence() if i % 2 == 0 else Evidence(NOW, ())
        members.append(
            case(
                id=ids,
                upn=f"user{i:02d}@contoso.com",
                display_name=f"User {i:02d}",
                evidence=None if i == 13 else evidence,
                state=CaseState.INVESTIGATING if i == 13 else CaseState.INVESTIGATED,
                steps={},
            )
        )
    wave = Wave(
        "8f1d9c8e-0000-4000-8000-00000000aaaa",
        NOW - timedelta(minutes=3),
        4,
        tuple(c.id for c in members),
    )
    bulk = BulkAction(
        "b-1",
        BulkKind.CONTAIN,
        "Alex",
        NOW - timedelta(seconds=20),
        tuple(c.id for c in members[:6:2]),
        (
            Outcome(members[0].id, Result.DONE),
            Outcome(
                members[2].id, Result.FAILED, Problem(ProblemKind.NOT_FOUND, "Microsoft Graph")
            ),
        ),
    )
    running = dataclasses.replace(wave, bulk=bulk)
    return {
        "wave approver": render_wave(wave, members, t=t, now=NOW, role=Role.APPROVER),
        "wave shared, bulk running": render_wave(running, members, t=t, now=NOW),
        "wave page 2": render_wave(wave, members, t=t, now=NOW, role=Role.RESPONDER, page=2),
    }


def every_card(t: Texts) -> dict[str, Card]:
    """Every kind of card BlockWatch sends, in `t`'s language, by name."""
    cards: dict[str, Card] = {
        "list": restricted_list_card(SENDERS, page=1, t=t, now=NOW, budget=BUDGET),
        "list with one opened": restricted_list_card(
            SENDERS, page=1, t=t, now=NOW, budget=BUDGET, opened=frozenset({"joost@contoso.com"})
        ),
        "list empty": restricted_list_card([], page=1, t=t, now=NOW, budget=BUDGET),
        "sender gone": sender_gone_card("joost@contoso.com", t=t),
        "help": help_card(help_lines(t), t=t),
        "help after something unknown": help_card(help_lines(t), t=t, unknown="hello"),
        "error": error_card(t("error.deadline"), t=t, correlation_id="abc-123"),
        "status picker": pick_sender_card(
            "status",
            [("joost@contoso.com", "Joost van den Bergh")],
            t=t,
            typed_example="status megan@contoso.com",
        ),
        "history picker, no cases": pick_sender_card(
            "history", [], t=t, typed_example="history megan@contoso.com"
        ),
    }
    for name, (shown, role, viewer) in cases().items():
        cards[name] = render_case(shown, t=t, now=NOW, role=role, viewer=viewer, cloud=Cloud.PUBLIC)
    cards.update(_waves(t))
    cards["case with a notice"] = render_case(
        case(), t=t, now=NOW, role=Role.RESPONDER, notice=Notice.STALE
    )
    events = [
        AuditEvent(ALEX, "Alex", "case_taken", "joost@contoso.com", "done", CASE_ID, at=NOW),
        AuditEvent(
            MEGAN,
            "Megan",
            "note_added",
            "joost@contoso.com",
            "done",
            CASE_ID,
            detail="Called Joost",
            at=NOW,
        ),
        AuditEvent(
            MEGAN,
            "Megan",
            "close_reason",
            "joost@contoso.com",
            "done",
            CASE_ID,
            parameters={"reason": "handled_elsewhere"},
            detail="Released by the SOC",
            at=NOW,
        ),
    ]
    ended = cases()["case released elsewhere, reason given"][0]
    cards["history"] = history_card("joost@contoso.com", [(ended, events)], t=t, budget=BUDGET)
    cards["history, no cases"] = history_card("joost@contoso.com", [], t=t, budget=BUDGET)
    cards["audit"] = audit_card(events, days=7, t=t, budget=BUDGET)
    cards["alert digest"] = digest_card([case(state=CaseState.RESTRICTED, evidence=None)] * 3, t=t)
    cards["alert subscriptions"] = subscriptions_card(
        ["General (Contoso IT)"], t=t, notice=t("alerts.on")
    )
    return cards
