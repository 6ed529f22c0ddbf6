"""Card snapshots (paste any into the Adaptive Cards designer) and size limits."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from bot.core.m365 import RestrictedSender
from bot.core.people import Role
from bot.i18n import Texts
from cards.common import utf16_size
from cards.messages import error_card, help_card
from cards.senders import paginate, restricted_list_card, sender_gone_card
from tests.gallery import BUDGET, NOW, SENDERS, every_card, sender
from tests.gallery import case as gallery_case
from tests.helpers import actions_of, texts_of

LANGS = [Texts("en"), Texts("nl", ZoneInfo("Europe/Amsterdam"))]


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@cache
def _gallery(lang: str) -> dict[str, Any]:
    return every_card(next(t for t in LANGS if t.lang == lang))


@pytest.mark.parametrize("name", list(_gallery("en")), ids=lambda n: n.replace(" ", "-"))
@pytest.mark.parametrize("lang", [t.lang for t in LANGS])
def test_every_card(lang: str, name: str, snapshot_json: SnapshotAssertion) -> None:
    """Every kind of card (tests/gallery.py), as sent, one snapshot file each: review a change
    to any of them in its own file."""
    card = _gallery(lang)[name]
    assert card == snapshot_json
    # BlockWatch's own words and icons never need the marks `literal` puts on hostile text.
    assert "[U+" not in json.dumps(card, ensure_ascii=False)


@pytest.mark.parametrize("t", LANGS, ids=lambda t: t.lang)
def test_list_card(t: Texts, snapshot_json: SnapshotAssertion) -> None:
    card = restricted_list_card(SENDERS, page=1, t=t, now=NOW, budget=BUDGET)
    assert card == snapshot_json
    assert card["version"] == "1.5"
    assert all(a["fallback"]["data"]["verb"] == a["verb"] for a in actions_of(card))


@pytest.mark.parametrize("t", LANGS, ids=lambda t: t.lang)
def test_empty_list_card(t: Texts, snapshot_json: SnapshotAssertion) -> None:
    card = restricted_list_card([], page=1, t=t, now=NOW, budget=BUDGET)
    assert card == snapshot_json
    assert "🎉" in texts_of(card)[1]


@pytest.mark.parametrize("t", LANGS, ids=lambda t: t.lang)
def test_small_cards(t: Texts, snapshot_json: SnapshotAssertion) -> None:
    cards: dict[str, Any] = {
        "gone": sender_gone_card("joost@contoso.com", t=t),
        "help": help_card(["who is blocked — list", "help — this"], t=t, unknown="hello"),
        "error": error_card(t("error.deadline"), t=t, correlation_id="abc-123"),
    }
    assert cards == snapshot_json


def _many(count: int, name_length: int) -> list[RestrictedSender]:
    return [
        sender(
            f"user{i}@contoso.com",
            "Ñ" * name_length + str(i),
            "ExceedingLimitType=External;ExternalRecipientCountToday=999",
            i,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(("count", "name_length"), [(250, 10), (40, 400), (1, 5000)])
@pytest.mark.parametrize("t", LANGS, ids=lambda t: t.lang)
def test_every_page_fits_the_budget_and_nobody_is_lost(
    t: Texts, count: int, name_length: int
) -> None:
    senders = _many(count, name_length)
    first = restricted_list_card(senders, page=1, t=t, now=NOW, budget=BUDGET)
    pages = _page_count(first)
    seen: list[str] = []
    for number in range(1, pages + 1):
        card = restricted_list_card(senders, page=number, t=t, now=NOW, budget=BUDGET)
        if count > 1 or name_length < 1000:
            assert utf16_size(card) < BUDGET - 2_000
        seen += [a["data"]["upn"] for a in actions_of(card) if a["verb"] == "open_case"]
    assert seen == [s.upn for s in senders]


def _page_count(card: dict[str, Any]) -> int:
    for line in texts_of(card):
        if line.startswith(("Page ", "Pagina ")):
            return int(line.split(" · ")[0].split()[-1])
    return 1


def test_page_numbers_are_clamped() -> None:
    senders = _many(250, 10)
    last = restricted_list_card(senders, page=10_000, t=Texts("en"), now=NOW, budget=BUDGET)
    first = restricted_list_card(senders, page=-3, t=Texts("en"), now=NOW, budget=BUDGET)
    assert [a["title"] for a in actions_of(last) if a["verb"] == "list_page"] == [
        "Previous",
        "Refresh",
    ]
    assert [a["title"] for a in actions_of(first) if a["verb"] == "list_page"] == [
        "Next",
        "Refresh",
    ]


def test_paginate_keeps_an_oversized_row_on_its_own_page() -> None:
    rows = [{"t": "a" * 10}, {"t": "b" * 5000}, {"t": "c"}]
    assert paginate(rows, frame=100, budget=2000) == [[rows[0]], [rows[1]], [rows[2]]]


# What each role's view of an open case offers (the server checks every action regardless).
STEPS = {"run_step", "skip_step", "run_recommended"}
ROLE_VERBS = {
    Role.NONE: {"refresh_case"},  # the card a conversation shares: "Refresh for my view"
    Role.VIEWER: {"refresh_case"},
    Role.RESPONDER: STEPS | {"take_case", "add_note", "refresh_case"},
    Role.APPROVER: STEPS | {"take_case", "add_note", "release", "refresh_case"},
}


@pytest.mark.parametrize("role", list(ROLE_VERBS), ids=lambda r: r.name.lower())
@pytest.mark.parametrize("t", LANGS, ids=lambda t: t.lang)
def test_case_card(t: Texts, role: Role, snapshot_json: SnapshotAssertion) -> None:
    from bot.cases.model import Notice
    from cards.case import DEFAULT_BUDGET, render_case

    card = render_case(gallery_case(), t=t, now=NOW, role=role, notice=Notice.STALE)
    assert card == snapshot_json
    assert utf16_size(card) <= DEFAULT_BUDGET
    verbs = {a["verb"] for a in actions_of(card)}
    assert verbs == ROLE_VERBS[role]
    refresh = card["refresh"]["action"]  # Teams asks for each viewer's own card with it
    assert (refresh["type"], refresh["verb"]) == ("Action.Execute", "refresh_case")
    assert refresh["data"]["case"] == "8f1d9c8e-0000-4000-8000-000000000001"
    assert "userIds" not in card["refresh"]  # every member of a conversation up to 60
    assert all(
        a["data"]["case"] == "8f1d9c8e-0000-4000-8000-000000000001" for a in actions_of(card)
    )
    assert all("upn" not in a["data"] for a in actions_of(card))


def test_case_card_with_a_lot_of_evidence_still_fits() -> None:
    import dataclasses

    from bot.cases.evidence import Section, SectionStatus, Why
    from bot.cases.sections import rules as rules_section
    from bot.cases.sections.rules import RuleFinding
    from cards.case import DEFAULT_BUDGET, render_case

    case = gallery_case()
    rules = tuple(
        RuleFinding(
            str(i),
            "R" * 200,
            True,
            recipients=("a@evil.example",) * 20,
            why=(Why.DELETES, Why.BAIT_WORDS, Why.HIDDEN),
        )
        for i in range(300)
    )
    sections = (Section(rules_section.NAME, SectionStatus.READ, rules), *case.evidence.sections[1:])
    case = dataclasses.replace(case, evidence=dataclasses.replace(case.evidence, sections=sections))
    for lang in LANGS:
        assert utf16_size(render_case(case, t=lang, now=NOW)) <= DEFAULT_BUDGET
