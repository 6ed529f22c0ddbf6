"""Every case card an admin can see, in both languages, reads as words: no raw catalogue key and
no unfilled `{placeholder}` in any text, title or label."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cases.evidence import Evidence, Section, SectionStatus, Why
from bot.cases.model import Case, CaseState, Notice, Step
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.sections import (
    NAMES,
    consents,
    delegates,
    forwarding,
    mfa,
    risk,
    roles,
    rules,
    sent,
    sign_ins,
)
from bot.cases.sections.consents import ConsentFinding
from bot.cases.sections.delegates import DelegateFinding
from bot.cases.sections.forwarding import ForwardingFinding
from bot.cases.sections.mfa import MethodFinding
from bot.cases.sections.risk import RiskFinding
from bot.cases.sections.roles import RoleFinding
from bot.cases.sections.rules import RuleFinding
from bot.cases.sections.sent import SentFinding
from bot.cases.sections.sign_ins import CountriesFinding, FailuresFinding, TravelFinding
from bot.core.people import Role
from bot.errors import Problem, ProblemKind
from bot.i18n import Texts, catalogue
from cards.case import render_case

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LANGS = [Texts("en"), Texts("nl", ZoneInfo("Europe/Amsterdam"))]
KEYS = sorted(set(catalogue("en")) | set(catalogue("nl")), key=len, reverse=True)
PLACEHOLDER = re.compile(r"\{[A-Za-z_]*\}")
PROBLEMS = [
    Problem(kind, "Microsoft Graph", "User.Read.All", "Insufficient privileges")
    for kind in ProblemKind
]


def words(card: Any) -> Iterator[str]:
    """Every text, title and label in a card."""
    if isinstance(card, dict):
        for key, value in card.items():
            if key in ("text", "title", "label") and isinstance(value, str):
                yield value
            else:
                yield from words(value)
    elif isinstance(card, list):
        for item in card:
            yield from words(item)


def wrong(text: str) -> list[str]:
    """What in `text` is not words: catalogue keys and placeholders."""
    found = [key for key in KEYS if key in text]
    return found + PLACEHOLDER.findall(text) + (["()"] if "()" in text else [])


EVIDENCE = Evidence(
    NOW,
    (
        Section(
            rules.NAME,
            SectionStatus.READ,
            (
                RuleFinding("1", "Forward", True, recipients=("x@evil.example",), why=tuple(Why)),
                RuleFinding("2", "Archive", True, folder="RSS Subscriptions"),
            ),
        ),
        Section(forwarding.NAME, SectionStatus.READ, (ForwardingFinding("y@evil.example"),)),
        Section(delegates.NAME, SectionStatus.READ, (DelegateFinding("svc@c.com", "SendAs"),)),
        Section(
            mfa.NAME,
            SectionStatus.READ,
            (MethodFinding("m1", "phone", "+31 6 1234", NOW, (Why.RECENT_METHOD,)),),
        ),
        Section(roles.NAME, SectionStatus.READ, (RoleFinding("r1", "Global Administrator"),)),
        Section(risk.NAME, SectionStatus.READ, (RiskFinding("high", "atRisk", (Why.RISKY,)),)),
        Section(
            sign_ins.NAME,
            SectionStatus.READ,
            (
                CountriesFinding(("NL", "NG"), 12, 4),
                TravelFinding("Amsterdam", "Lagos", 40),
                FailuresFinding(4),
            ),
        ),
        Section(consents.NAME, SectionStatus.READ, (ConsentFinding("Mail Backup", "Mail.Read"),)),
        Section(sent.NAME, SectionStatus.READ, (SentFinding(420, 4, 3),)),
    ),
)


def _unread(problem: Problem) -> Evidence:
    """Every section unreadable (or, for a licence, not applicable) because of `problem`."""
    status = (
        SectionStatus.NOT_APPLICABLE
        if problem.kind is ProblemKind.NOT_AVAILABLE
        else SectionStatus.UNREADABLE
    )
    return Evidence(NOW, tuple(Section(n, status, problem=problem) for n in NAMES))


def _detail(status: StepStatus, index: int) -> StepDetail | None:
    notes = [n for n in Note if n not in (Note.FAILED, Note.SKIPPED, Note.INTERRUPTED)]
    if status is StepStatus.DONE:
        return StepDetail(notes[index % len(notes)], names=("Forward", "Archive"), old="y@e.x")
    if status is StepStatus.FAILED:
        return StepDetail.failed(PROBLEMS[index % len(PROBLEMS)])
    if status is StepStatus.SKIPPED:
        return StepDetail(Note.SKIPPED, reason="handled by the service desk")
    if status is StepStatus.INTERRUPTED:
        return StepDetail(Note.INTERRUPTED)
    return None


def case(state: CaseState, status: StepStatus, **changes: Any) -> Case:
    """A case in `state` whose every step is at `status` (with a fitting detail)."""
    steps = {
        name: Step(name, status, _detail(status, i), "Alex Wilber", 1)
        for i, name in enumerate(StepName)
    }
    base = Case(
        id="8f1d9c8e-0000-4000-8000-000000000001",
        upn="joost@contoso.com",
        state=state,
        version=3,
        opened_at=NOW - timedelta(hours=2),
        display_name="Joost van den Bergh",
        reason="ExceedingLimitType=External;ExternalRecipientCountToday=1842",
        restricted_since=NOW - timedelta(hours=3),
        released_at=NOW - timedelta(minutes=5) if state is CaseState.RELEASED else None,
        closed_at=NOW if state in (CaseState.VERIFIED, CaseState.RE_RESTRICTED) else None,
        evidence=None if state is CaseState.INVESTIGATING else EVIDENCE,
        steps=steps,
    )
    return dataclasses.replace(base, **changes)


def _cards(t: Texts) -> Iterator[tuple[str, Any]]:
    for state, status in itertools.product(CaseState, StepStatus):
        for role in Role:
            yield (
                f"{state}/{status}/{role.name}",
                render_case(case(state, status), t=t, now=NOW, role=role),
            )
    for notice in Notice:
        yield (
            f"notice {notice}",
            render_case(case(CaseState.READY, StepStatus.DONE), t=t, now=NOW, notice=notice),
        )
    for i, note in enumerate(Note):
        # Every note once, on step 1, whatever the others say.
        problem = PROBLEMS[i % len(PROBLEMS)]
        detail = (
            StepDetail.failed(problem)
            if note is Note.FAILED
            else StepDetail(note, ("A",), "o@e.x", "why", problem)
        )
        one = case(CaseState.REMEDIATING, StepStatus.NOT_RUN)
        steps = dict(one.steps) | {
            StepName.RESET_PASSWORD: Step(StepName.RESET_PASSWORD, StepStatus.DONE, detail, "Alex")
        }
        yield f"note {note}", render_case(dataclasses.replace(one, steps=steps), t=t, now=NOW)
    for problem in PROBLEMS:
        yield (
            f"sections {problem.kind}",
            render_case(
                case(CaseState.REMEDIATING, StepStatus.NOT_RUN, evidence=_unread(problem)),
                t=t,
                now=NOW,
            ),
        )
        failed = Evidence(NOW, failure=problem)
        yield (
            f"failure {problem.kind}",
            render_case(
                case(CaseState.REMEDIATING, StepStatus.NOT_RUN, evidence=failed), t=t, now=NOW
            ),
        )
    for problem in PROBLEMS:
        failed = case(CaseState.READY, StepStatus.DONE, release_problem=problem)
        yield f"release failed {problem.kind}", render_case(failed, t=t, now=NOW)
    releasing = case(CaseState.RELEASING, StepStatus.DONE, released_by_name="Alex Wilber")
    yield "releasing", render_case(releasing, t=t, now=NOW)
    requested = case(
        CaseState.READY,
        StepStatus.DONE,
        release_requested_by="oid-1",
        release_requested_name="Megan Bowen",
        release_requested_at=NOW - timedelta(minutes=3),
        override_reason="confirmed by phone",
    )
    yield "approval", render_case(requested, t=t, now=NOW)
    late = case(CaseState.RELEASED, StepStatus.DONE, released_at=NOW - timedelta(days=2))
    yield "late", render_case(late, t=t, now=NOW)
    yield (
        "again",
        render_case(
            case(CaseState.RESTRICTED, StepStatus.NOT_RUN, previous_case_id="x"),
            t=t,
            now=NOW,
            previous_opened=NOW - timedelta(days=3),
        ),
    )


@pytest.mark.parametrize("t", LANGS, ids=lambda t: t.lang)
def test_every_case_card_reads_as_words(t: Texts) -> None:
    rendered = 0
    for name, card in _cards(t):
        for text in words(card):
            assert not wrong(text), (name, text)
            rendered += 1
    assert rendered > 10_000


def test_the_check_catches_a_raw_key_and_a_placeholder() -> None:
    assert "step.reset_password.done" in wrong("step.reset_password.done (by Alex)")
    assert wrong("Released {ago} by BlockWatch") == ["{ago}"]
    assert wrong("Password reset; it must be changed at next sign-in.") == []
