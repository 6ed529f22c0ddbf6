"""A wave: thirty restrictions in one poll against the simulated tenant with Microsoft's budgets
on, through Teams' protocol — one live card instead of thirty, and bulk actions that act on
each case through its own rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cases.ledger import SYSTEM
from bot.cases.model import CaseState
from bot.cases.waves import BulkAction, BulkKind
from bot.store.audit import AuditTrail
from bot.store.waves import WaveStore
from tests.conftest import BotUnderTest
from tests.flow import click, subscribed
from tests.helpers import ROOT, Recorder, actions_of, texts_of

WAVE = 30


async def _wave_bot(
    start_bot: Any, recorder: Recorder, tmp_path: Path, accounts: int = WAVE, **settings: str
) -> Any:
    scenario = json.loads((ROOT / "bot/sim/scenarios/compromised.json").read_text("utf-8"))
    scenario["generate_wave"] = accounts
    path = tmp_path / "wave.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    bot: BotUnderTest = await start_bot(
        DEMO_SCENARIO=str(path),
        ALERT_POLL_SECONDS="3600",
        DEMO_RESTRICT_AFTER_SECONDS="0",
        INVESTIGATIONS_AT_ONCE="32",
        EVIDENCE_RETRY_SECONDS="600",
        FOLLOW_UP_SECONDS="0.1",
        **settings,
    )
    return bot, await subscribed(bot, recorder)


def _upn(i: int) -> str:
    return f"wave{i:02d}@contoso.onmicrosoft.com"


async def _restrict_the_wave(bot: Any, accounts: int = WAVE) -> None:
    for i in range(accounts):
        bot.sim.state.restrict(_upn(i), "ExceedingLimitType=External")
    await bot.runtime.watcher.poll_once()
    await bot.runtime.delivery.deliver_pending()
    await bot.runtime.cases.idle()  # the investigations, within Microsoft's budgets


def _button(card: dict[str, Any], verb: str) -> dict[str, Any]:
    found = [a for a in actions_of(card) if a["verb"] == verb]
    assert found, f"no {verb} in {texts_of(card)}"
    data: dict[str, Any] = found[0]["data"]
    return data


async def _wave_card(bot: Any, recorder: Recorder, **kw: Any) -> dict[str, Any]:
    wave = await WaveStore(bot.runtime.engine).open_wave(datetime.now(UTC) - timedelta(hours=1))
    assert wave is not None
    return await click(bot, recorder, "refresh_wave", {"wave": wave.id, "page": 1}, **kw)


async def test_thirty_in_one_poll_are_one_wave_and_the_bulk_containment_acts_per_case(
    start_bot: Any, recorder: Recorder, tmp_path: Path
) -> None:
    bot, channel = await _wave_bot(start_bot, recorder, tmp_path)
    await _restrict_the_wave(bot)
    posted = [
        c
        for c in recorder.calls
        if c.method == "POST"
        and c.path.startswith(f"/v3/conversations/{channel}/activities")
        and c.body.get("attachments")
    ]
    assert len(posted) == 1  # one wave card, no card per account
    assert (
        texts_of(posted[0].body["attachments"][0]["content"])[0] == "Wave: 30 accounts restricted"
    )
    state = bot.sim.state
    # One strong account is deleted meanwhile: the bulk action fails on it and goes on.
    gone = next(u for u in state.users if u.upn == _upn(0))
    state.users.remove(gone)
    card = await _wave_card(bot, recorder)
    assert any(t.startswith("Investigated 30 · strong evidence 15") for t in texts_of(card))
    contain = _button(card, "bulk_contain")
    answered = await click(bot, recorder, "bulk_contain", contain)
    assert "Started: the card shows how far it got." in texts_of(answered)
    await bot.runtime.cases.idle()
    for i in range(1, WAVE):
        evidence = state.evidence_of(_upn(i))
        user = next(u for u in state.users if u.upn == _upn(i))
        if i % 2 == 0:
            assert evidence.sessions_revoked is not None, i
            assert evidence.forwarding_smtp is None, i
            assert user.account_enabled is False, i
        else:  # weak evidence: untouched
            assert evidence.sessions_revoked is None, i
            assert user.account_enabled is True, i
    assert [r for r in bot.sim.requests if r.status == 429] == []  # never over a budget
    shown = texts_of(await _wave_card(bot, recorder))
    assert "Containment by Alex: 14 of 15 done." in shown
    assert any(t.startswith("• Wave User 00 — failed") for t in shown), "\n".join(shown)
    assert any(t.startswith("Investigated 30 · strong evidence 15 · contained 14") for t in shown)
    events = await AuditTrail(bot.runtime.engine).events(target=_upn(2), limit=100)
    bulk_ids = {e.parameters.get("bulk") for e in events if "bulk" in e.parameters}
    assert len(bulk_ids) == 1
    started = [e for e in events if e.action.startswith("step_started:")]
    assert started
    assert all(e.actor_name == "Alex" and "bulk" in e.parameters for e in started)


async def test_the_bulk_release_keeps_each_gate_and_four_eyes_and_take_all(
    start_bot: Any, recorder: Recorder, tmp_path: Path
) -> None:
    # Twelve (over ALERT_DIGEST_THRESHOLD) are enough here: the thirty are the test above.
    bot, _ = await _wave_bot(start_bot, recorder, tmp_path, 12, REQUIRE_SECOND_APPROVER="true")
    await _restrict_the_wave(bot, 12)
    card = await _wave_card(bot, recorder)
    await click(bot, recorder, "bulk_contain", _button(card, "bulk_contain"))
    await bot.runtime.cases.idle()
    card = await _wave_card(bot, recorder)
    release = _button(card, "bulk_release")  # offered for the contained ones
    await click(bot, recorder, "bulk_release", release)
    await bot.runtime.cases.idle()
    for i in range(12):
        case = await bot.runtime.cases.open_for(_upn(i))
        assert case is not None
        if i % 2 == 0:  # contained: its release is requested, a second approver decides
            assert case.awaiting_approval, i
        else:  # not contained: not part of it
            assert not case.awaiting_approval, i
        assert case.state is not CaseState.RELEASING
    assert all(bot.sim.state.block(_upn(i)) is not None for i in range(12))  # none released
    shown = texts_of(await _wave_card(bot, recorder))
    assert "Release by Alex: 6 of 6 done." in shown
    card = await _wave_card(bot, recorder)
    await click(bot, recorder, "bulk_take", _button(card, "bulk_take"))
    await bot.runtime.cases.idle()
    owners = {(await bot.runtime.cases.open_for(_upn(i))).owner_name for i in range(12)}
    assert owners == {"Alex"}


async def test_a_bulk_action_whose_replica_is_gone_ends_as_stopped(
    start_bot: Any, recorder: Recorder
) -> None:
    bot: BotUnderTest = await start_bot(ALERT_POLL_SECONDS="3600", DEMO_RESTRICT_AFTER_SECONDS="0")
    store = WaveStore(bot.runtime.engine)
    case = await bot.runtime.cases.open_sender(bot.sim.state.blocks[0].sender, SYSTEM)
    assert case is not None
    now = datetime.now(UTC)
    wave = await store.create([case.id], now)
    gone = BulkAction("b-gone", BulkKind.TAKE, "Alex", now, (case.id,), runner="gone:1:dead")
    assert await store.set_bulk(wave, gone, now) is not None
    await bot.runtime.bulk.upkeep()
    ended = await store.get(wave.id)
    assert ended is not None
    assert ended.bulk is not None
    assert ended.bulk.finished_at is not None
    assert ended.bulk.stopped
    assert await store.running_bulk() == []
    shown = texts_of(await click(bot, recorder, "refresh_wave", {"wave": wave.id}))
    assert any(t.startswith("Taking the cases by Alex stopped after 0 of 1") for t in shown)
