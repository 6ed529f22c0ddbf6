"""What the attacker wrote is shown as text, never as a link: every card that can carry text from
the tenant or a user, rendered with hostile strings in every such field, must give Teams
nothing to interpret (no markdown, link, emphasis or mention), nothing hidden (direction
overrides, zero-width characters), and stay within its size budget."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from bot.cases.evidence import Evidence, Section, SectionStatus, Why
from bot.cases.model import Case, CaseNote, CaseState, CloseReason, Notice, Step
from bot.cases.outcomes import Note, StepDetail, StepName
from bot.cases.outcomes import StepStatus as Status
from bot.cases.sections import (
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
from bot.cases.sections.sign_ins import CountriesFinding, FailuresFinding, TravelFinding
from bot.chat.registry import help_lines
from bot.core.audit import AuditEvent
from bot.core.m365 import RestrictedSender, parse_reason
from bot.core.people import Role
from bot.errors import Problem, ProblemKind
from bot.i18n import Texts
from bot.teams.endpoint import _reference
from cards.alerts import digest_card, subscriptions_card
from cards.case import DEFAULT_BUDGET, render_case
from cards.common import MAX_LINE, Card, address, literal, utf16_size
from cards.history import audit_card, history_card
from cards.messages import error_card, help_card
from cards.senders import restricted_list_card, sender_gone_card
from tests.flow import compromised_bot, open_joost
from tests.helpers import Recorder, texts_of

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
T = Texts("en")
HOSTILE = {
    "markdown link": "Sync [Verify your admin account](https://evil.example/login) **now**",
    "emphasis and lists": "_urgent_ **approve** ~~x~~ `code`\r- item\n1. first",
    "mention": "<at>Alex Wilber</at> approve this",
    "html": "<b>bold</b><a href='https://evil.example'>here</a><script>x</script>",
    "bare links": "see www.evil.example/login or javascript:alert(1) or mailto:a@evil.example",
    "direction override": "invoice\u202ecod.exe and moc.\u2067live\u2069",
    "zero width": "inv\u200boice pay\u200dment\ufeff\u2060",
    "10,000 characters": "A" * 10_000,
}
LIVE_LINK = re.compile(r"(?<!\[)://|www\.(?!\])")  # "hxxps[://]" and "www[.]" are defanged
FORBIDDEN = (
    "javascript:",
    "mailto:",
    "\u202e",
    "\u2067",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u2060",
)


def hostile(value: Any, words: str) -> Any:
    """`value` with every text in it (dataclass fields, tuples, mappings) replaced by `words`;
    enums, numbers and times stay."""
    if isinstance(value, Enum) or not isinstance(value, (str, tuple, dict)):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {
                f.name: hostile(getattr(value, f.name), words)
                for f in dataclasses.fields(value)
                # ids are BlockWatch's (UUIDs) or Microsoft's, never typed by the attacker
                if f.init
                and f.name != "id"
                and not f.name.endswith("_id")
                # a finding's kind and a section's name are BlockWatch's codes
                and f.name != "kind"
                and not (isinstance(value, Section) and f.name == "name")
                # a section with no findings (unreadable, not applicable) keeps none
                and not (f.name == "findings" and not getattr(value, f.name))
            }
            if "upn" in changes:  # Exchange holds addresses of at most 320 characters (RFC 5321)
                changes["upn"] = words[:320]
            return dataclasses.replace(value, **changes)
        return value
    if isinstance(value, str):
        return words
    if isinstance(value, tuple):
        return tuple(hostile(v, words) for v in value) or (words,)
    return {k: hostile(v, words) for k, v in value.items()}


def _evidence() -> Evidence:
    why = (Why.FORWARDS_EXTERNAL,)
    problem = Problem(ProblemKind.FAILED, "svc", "missing", "message", "ref")
    return Evidence(
        NOW,
        (
            Section(
                rules.NAME,
                SectionStatus.READ,
                (RuleFinding("1", "n", True, recipients=("a@b.c",), folder="f", why=why),),
            ),
            Section(forwarding.NAME, SectionStatus.READ, (ForwardingFinding("x", why=why),)),
            Section(delegates.NAME, SectionStatus.READ, (DelegateFinding("u", "r", why=why),)),
            Section(mfa.NAME, SectionStatus.READ, (MethodFinding("m", "k", "l", why=why),)),
            Section(roles.NAME, SectionStatus.READ, (RoleFinding("a", "r", why=why),)),
            Section(risk.NAME, SectionStatus.READ, (RiskFinding("l", "s", why=why),)),
            Section(
                sign_ins.NAME,
                SectionStatus.READ,
                (
                    CountriesFinding(("NL",), 3, 1, ("1.2.3.4",), why=why),
                    TravelFinding("o", "d", 5, why=why),
                    FailuresFinding(2, why=why),
                ),
            ),
            Section(consents.NAME, SectionStatus.READ, (ConsentFinding("a", "s", "p", why=why),)),
            Section(sent.NAME, SectionStatus.UNREADABLE, problem=problem),
        ),
    )


def _case(state: CaseState, words: str) -> Case:
    problem = Problem(ProblemKind.FAILED, "svc", "missing", "message", "ref")
    steps = {
        name: Step(
            name,
            status,
            StepDetail(note, names=("r",), old="o", reason="why", problem=problem),
            "actor",
            1,
        )
        for name, status, note in (
            (StepName.RESET_PASSWORD, Status.DONE, Note.PASSWORD_RESET),
            (StepName.REMOVE_FORWARDING, Status.DONE, Note.FORWARDING_REMOVED),
            (StepName.DISABLE_RULES, Status.DONE, Note.RULES_DISABLED),
            (StepName.REVOKE_SESSIONS, Status.SKIPPED, Note.SKIPPED),
            (StepName.BLOCK_SIGN_IN, Status.FAILED, Note.FAILED),
        )
    }
    case = Case(
        id="8f1d9c8e-0000-4000-8000-000000000001",
        upn="joost@contoso.com",
        state=state,
        version=3,
        opened_at=NOW - timedelta(hours=2),
        display_name="name",
        reason="ExceedingLimitType=External;ExternalRecipientCountToday=1842",
        restricted_since=NOW - timedelta(hours=3),
        release_requested_by="id",
        release_requested_name="name",
        override_reason="reason",
        release_requested_at=NOW - timedelta(minutes=5),
        released_at=NOW - timedelta(minutes=1),
        released_by="id",
        released_by_name="name",
        release_problem=problem,
        evidence=_evidence(),
        steps=steps,
        owner_id="id",
        owner_name="name",
        close_reason=CloseReason.OTHER,
        close_comment="comment",
        notes=(CaseNote("name", "note", NOW - timedelta(minutes=3), "id"),) * 4,
        note_count=4,
    )
    return hostile(case, words)  # type: ignore[no-any-return]


def _cards(words: str) -> Iterator[tuple[str, Card, int]]:
    """(what, card, its budget) for every card that can carry tenant or user text."""
    for state in CaseState:
        for role in (Role.APPROVER, Role.VIEWER):
            case = _case(state, words)
            yield (
                f"case {state.value} as {role.name}",
                render_case(case, t=T, now=NOW, role=role, notice=Notice.STALE),
                DEFAULT_BUDGET,
            )
    sender = RestrictedSender(words[:320], words, parse_reason(words), NOW, NOW, False)
    many = [dataclasses.replace(sender, upn=f"{i}{words}"[:320]) for i in range(30)]
    yield "list", restricted_list_card(many, page=1, t=T, now=NOW, budget=30_000), 30_000
    yield "gone", sender_gone_card(words, t=T), 30_000
    cases = [_case(CaseState.RESTRICTED, words) for _ in range(20)]
    yield "digest", digest_card(cases, t=T), 30_000
    yield "subscriptions", subscriptions_card([words, words], t=T, notice=words), 30_000
    event = AuditEvent(words, words, words, words, words, words, {"k": words}, words, NOW, words)
    yield (
        "history",
        history_card(words[:320], [(cases[0], [event] * 40)], t=T, budget=30_000),
        30_000,
    )
    yield "audit", audit_card([event] * 60, days=7, t=T, budget=30_000), 30_000
    yield "help", help_card(help_lines(T), t=T, unknown=words), 30_000
    yield "error", error_card(words, t=T, correlation_id="1:1ab-c_d|e"), 30_000


def _shown(card: Card) -> Iterator[tuple[str, str]]:
    """(element type, text) of everything in a card a person reads."""
    if isinstance(card, dict):
        kind = str(card.get("type", ""))
        for key in ("text", "title", "label", "placeholder", "altText"):
            if isinstance(card.get(key), str):
                yield kind, card[key]
        for child in card.values():
            yield from _shown(child)
    elif isinstance(card, list):
        for child in card:
            yield from _shown(child)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_text_is_shown_as_text_on_every_card(name: str) -> None:
    words = HOSTILE[name]
    for what, card, budget in _cards(words):
        size = utf16_size(card)
        assert size <= budget, (what, size)
        raw = json.dumps(card, ensure_ascii=False)
        assert '"FactSet"' not in raw, what
        assert "entities" not in json.dumps(card.get("msteams", {})), what  # no mentions
        for kind, shown in _shown(card):
            if kind == "TextBlock":  # markdown is read here: only BlockWatch's own words
                assert words[:12] not in shown, (what, shown)
                assert literal(words, 13)[:12] not in shown, (what, shown)
            for bad in FORBIDDEN:
                assert bad not in shown, (what, kind, bad, shown)
            assert not LIVE_LINK.search(shown), (what, kind, shown)
            assert len(shown) <= MAX_LINE, (what, kind, len(shown))


def test_a_hostile_rule_name_cannot_crowd_out_the_other_findings() -> None:
    case = _case(CaseState.REMEDIATING, "x")
    evidence = case.evidence
    assert evidence is not None
    hostile_rules = tuple(
        RuleFinding(str(i), "R" * 10_000, True, why=(Why.DELETES,)) for i in range(3)
    )
    sections = (Section(rules.NAME, SectionStatus.READ, hostile_rules), *evidence.sections[1:])
    case = dataclasses.replace(case, evidence=dataclasses.replace(evidence, sections=sections))
    lines = texts_of(render_case(case, t=T, now=NOW))
    flagged = [line for line in lines if line.startswith("⚠ RRR")]
    assert len(flagged) == 3  # every suspicious rule still shows (in the summary), cut short
    assert all(line.endswith("— deletes mail") and "…" in line for line in flagged)


def test_internationalised_addresses_show_their_ascii_form_and_mixed_scripts() -> None:
    assert address("zoe@example.com", T) == "zoe@example.com"
    assert address("zoë@bücher.example", T) == "zoë@bücher.example (xn--bcher-kva.example)"
    lookalike = address("zoe@mailbox-rel\u0430y.example", T)  # a Cyrillic "а"
    assert lookalike == (
        "zoe@mailbox-rel\u0430y.example (xn--mailbox-rely-79j.example, mixed scripts: "
        "look-alike letters)"
    )
    assert address("x@\u0430\u0440\u0440\u04cf\u0435.example", T).endswith(
        "(xn--80ak6aa92e.example)"
    )  # all Cyrillic: no mix within the label


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


async def test_the_demos_compromised_case_shows_the_attackers_names_literally(
    start_bot: Any, recorder: Recorder, snapshot_json: SnapshotAssertion
) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    lines = texts_of(card)
    evidence = lines[lines.index("Investigation") : lines.index("Compromised-account checklist")]
    assert evidence == snapshot_json
    assert (
        "⚠ Sync [Verify your admin account](hxxps[://]evil[.]example/login) **now** → "
        "zoe@mailbox-rel\u0430y.example (xn--mailbox-rely-79j.example, mixed scripts: "
        "look-alike letters) — forwards to an external address"
    ) in evidence
    assert any(
        line.startswith("⚠ Mail Backup [Approve access](hxxps[://]evil[.]example/consent)")
        for line in evidence
    )
    raw = json.dumps(card, ensure_ascii=False)
    assert "https://evil.example" not in raw


def test_long_audit_lines_leave_older_ones_off_and_say_so() -> None:
    words = HOSTILE["10,000 characters"]
    event = AuditEvent(words, words, words, words, words, words, {}, words, NOW, words)
    lines = texts_of(audit_card([event] * 60, days=7, t=T, budget=20_000))
    shown = [line for line in lines if line.startswith(T.when(NOW))]
    assert 0 < len(shown) < 40
    assert lines[-1] == f"Showing the latest {len(shown)} of 60 events."
    history = texts_of(
        history_card("a@b.c", [(_case(CaseState.RELEASED, "x"), [event] * 30)], t=T, budget=12_000)
    )
    assert history[-1] == T("history.more")


def test_a_correlation_id_is_the_activity_id_only_when_it_looks_like_one() -> None:
    assert _reference("1:1Xy_z-9|f@a.b") == "1:1Xy_z-9|f@a.b"
    for bad in ("[x](https://evil.example)", "a" * 129, "", None, 7):
        assert uuid.UUID(_reference(bad))
