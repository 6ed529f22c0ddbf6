"""The edges of a case: a password nobody received, a request nobody approved, texts that must
read right, and demo runs that start from their scenario."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import string
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.cases.evidence import Why
from bot.cases.model import CaseState
from bot.cases.outcomes import Note, StepName, StepStatus
from bot.cases.sections.rules import rule_findings
from bot.cases.steps.reset_password import _SYMBOLS, temporary_password
from bot.i18n import Texts
from bot.sim.evidence import SimRule
from bot.sim.faults import Fault
from cards.case import render_case
from tests.conftest import exchange_client
from tests.flow import JOOST, MEGAN, action, click, compromised_bot, open_joost, view_as
from tests.helpers import Recorder, Sent, actions_of, activity, invoke, serve_demo, texts_of

PASSWORD_LINE = re.compile(r"^Temporary password for \S+: (.+)$", re.M)


def _password_message(call: Sent) -> bool:
    return str(call.body.get("text", "")).startswith("Temporary password for")


async def test_a_password_nobody_received_fails_step_1_and_retry_sends_a_new_one(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot)
    refused = (403, {}, "MessageWritesBlocked")
    recorder.rules.append(lambda call: refused if _password_message(call) else None)
    card = await open_joost(bot, recorder)
    await click(bot, recorder, "run_step", action(card, "run_step", "reset_password"))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    step = case.step(StepName.RESET_PASSWORD)
    assert step.status is StepStatus.FAILED
    assert step.detail is not None
    assert step.detail.note is Note.PASSWORD_NOT_DELIVERED
    first = bot.sim.state.evidence_of(JOOST).password_sha256
    assert first is not None  # changed in the tenant, and nobody has it
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    line = next(t for t in texts_of(card) if t.startswith("The password was reset, but"))
    assert "Run step 1 again" in line
    assert "403" in line
    events = await bot.runtime.audit.events(case_id=case.id)
    finished = next(e for e in events if e.action == "step_finished:reset_password")
    assert finished.result == "failed"
    assert "password_not_delivered" in finished.detail

    recorder.rules.clear()
    retry = next(a for a in actions_of(card) if a["data"].get("step") == "reset_password")
    assert retry["title"] == "Retry"
    await click(bot, recorder, "run_step", retry["data"])
    await bot.runtime.cases.idle()
    delivered = [c for c in recorder.calls if _password_message(c)]
    assert delivered[-1].body["textFormat"] == "plain"  # shown exactly, no markdown
    found = PASSWORD_LINE.search(delivered[-1].body["text"])
    assert found is not None
    second = bot.sim.state.evidence_of(JOOST).password_sha256
    assert second != first
    assert hashlib.sha256(found[1].encode()).hexdigest() == second  # exactly what was set
    case = await bot.runtime.cases.get(case.id)
    assert case is not None
    assert case.step(StepName.RESET_PASSWORD).status is StepStatus.DONE
    assert case.step(StepName.RESET_PASSWORD).attempt == 2


def test_the_password_message_keeps_every_character_of_the_alphabet() -> None:
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    seen: set[str] = set()
    for lang in ("en", "nl"):
        template = Texts(lang).template("private.password")
        for _ in range(300):
            password = temporary_password()
            seen |= set(password)
            text = template.format(upn="joost@contoso.com", password=password)
            assert password in text.splitlines()[0]
            assert text.splitlines()[0].endswith(password)
    assert seen == set(alphabet)


async def test_an_approval_nobody_gives_lapses_and_is_audited(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, REQUIRE_SECOND_APPROVER="true")
    card = await open_joost(bot, recorder)
    override = dict(action(card, "release"), override_reason="confirmed by phone")
    card = await click(bot, recorder, "release", override)
    assert any("asked just now to release" in t for t in texts_of(card))
    await bot.runtime.cases.upkeep(now=datetime.now(UTC) + timedelta(hours=23))
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.awaiting_approval
    await bot.runtime.cases.upkeep(now=datetime.now(UTC) + timedelta(hours=25))
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert not case.awaiting_approval
    events = await bot.runtime.audit.events(case_id=case.id)
    lapsed = next(e for e in events if e.action == "approval_expired")
    assert lapsed.detail == "requested by Alex; nobody approved in time"
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    assert "approve_release" not in {a["verb"] for a in actions_of(card)}
    late = await click(bot, recorder, "approve_release", action(card, "refresh_case"), user=MEGAN)
    assert "There is no release request to approve." in texts_of(late)


async def test_run_recommended_answers_with_step_1_running(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    assert "joost.vandenbergh@contoso.onmicrosoft.com · Investigated — clean-up not started" in (
        texts_of(card)
    )
    card = await click(bot, recorder, "run_recommended", action(card, "run_recommended"))
    assert "⏳ 1. Reset password — running…" in texts_of(card)
    assert "joost.vandenbergh@contoso.onmicrosoft.com · Remediating" in texts_of(card)


async def test_the_release_names_the_admin_and_status_shows_the_closed_case(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, REQUIRE_SECOND_APPROVER="true")
    card = await open_joost(bot, recorder)
    override = dict(action(card, "release"), override_reason="confirmed by phone")
    card = await click(bot, recorder, "release", override)
    megans = await view_as(bot, recorder, card, MEGAN)
    await click(bot, recorder, "approve_release", action(megans, "approve_release"), user=MEGAN)
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.released_by_name == "Megan"
    await bot.runtime.cases.idle()
    await bot.post(activity(f"status {JOOST}", service_url=recorder.url))
    lines = texts_of(recorder.cards()[-1])
    assert lines[1] == f"{JOOST} · Released and verified"
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": 1})
    assert "Released and verified" in texts_of(card)[1]


def test_released_text_reads_in_the_past_and_credits_the_admin() -> None:
    from tests.test_card_texts import case

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    for released_at, said in (
        (now + timedelta(seconds=1), "Released just now by Alex Wilber."),  # clocks differ a bit
        (now - timedelta(minutes=5), "Released 5 minutes ago by Alex Wilber."),
    ):
        released = case(
            CaseState.RELEASED,
            StepStatus.DONE,
            released_at=released_at,
            released_by_name="Alex Wilber",
        )
        card = render_case(released, t=Texts("en"), now=now)
        assert any(t.startswith(said) for t in texts_of(card)), texts_of(card)
        dutch = render_case(released, t=Texts("nl"), now=now)
        assert any(t.startswith("Vrijgegeven door Alex Wilber, ") for t in texts_of(dutch))


async def test_the_demo_header_and_the_sent_mail_evidence_agree(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot()
    response = await bot.post(
        invoke(
            "open_case",
            {"upn": "joost.vandenbergh@contoso.onmicrosoft.com"},
            service_url=recorder.url,
        )
    )
    assert response.status_code == 200
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for("joost.vandenbergh@contoso.onmicrosoft.com")
    assert case is not None
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    lines = texts_of(card)
    assert lines[2].startswith("Sent to 1,842 external recipients today")
    sent = "⚠ 1,854 messages to 1,854 recipients (1,842 external) — unusually many messages"
    assert sent in lines
    upn = bot.sim.restrict_someone("megan.bowen@")
    assert upn == "megan.bowen@contoso.onmicrosoft.com"
    sent = bot.sim.state.evidence_of(upn).sent
    assert len([s for s in sent if not s.recipient.endswith("contoso.onmicrosoft.com")]) == 637


async def test_bait_words_in_the_subject_or_the_body_alone_are_flagged(
    start_bot: Any, recorder: Recorder, http: httpx.AsyncClient
) -> None:
    bot = await compromised_bot(start_bot)
    rules = bot.sim.state.evidence_of("sanne.devries@contoso.onmicrosoft.com").rules
    rules.append(SimRule("Subject only", subject_contains=["Invoice"], move_to_folder="Notes"))
    rules.append(SimRule("Body only", body_contains=["wire transfer", "payment"]))
    exchange = exchange_client(bot.sim, http)
    found = rule_findings(
        await exchange.inbox_rules("sanne.devries@contoso.onmicrosoft.com"), set()
    )
    why = {f.name: f.why for f in found}
    assert Why.BAIT_WORDS in why["Subject only"]
    assert Why.BAIT_WORDS in why["Body only"]


def _cases(cwd: Path) -> int:
    with sqlite3.connect(cwd / "data" / "demo-contoso.db") as db:
        return int(db.execute("SELECT count(*) FROM cases").fetchone()[0])


async def test_two_demo_runs_in_a_row_each_start_from_the_scenario(
    tmp_path: Path, recorder: Recorder
) -> None:
    for run, keep in enumerate(("false", "false", "true")):
        proc, url = serve_demo(tmp_path, DEMO_KEEP_STATE=keep)
        try:
            assert _cases(tmp_path) == (1 if keep == "true" else 0), run
            if keep == "false":
                body = invoke("open_case", {"upn": JOOST}, service_url=recorder.url)
                async with httpx.AsyncClient(timeout=30) as client:
                    answer = await client.post(f"{url}/api/messages", json=body)
                assert answer.status_code == 200
                assert not any("previous case" in t for t in texts_of(answer.json()["value"]))
                assert _cases(tmp_path) == 1
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 30)  # the Recorder keeps answering meanwhile


async def test_a_release_exchange_applies_after_its_answer_timed_out_is_the_admins(
    start_bot: Any, recorder: Recorder
) -> None:
    """Exchange holds Remove-BlockedSenderAddress past BlockWatch's deadline and applies it
    later: the card first says the release failed; when the watcher sees the sender gone, it is
    the admin's release (audited under Alex, then verified), not 'released elsewhere'."""
    bot = await compromised_bot(start_bot, TENANT_DEADLINE_SECONDS="1", ALERT_POLL_SECONDS="1")
    card = await open_joost(bot, recorder)
    bot.sim.faults.add("Remove-BlockedSenderAddress", Fault("latency", seconds=2.5))
    override = dict(action(card, "release"), override_reason="confirmed by phone")
    await click(bot, recorder, "release", override)
    case_id = override["case"]

    async def events() -> list[tuple[str, str, str]]:
        found = await bot.runtime.audit.events(case_id=case_id)
        return [(e.action, e.actor_name, e.result) for e in found]

    deadline = time.monotonic() + 20
    while ("release_verified", "BlockWatch", "done") not in await events():
        assert time.monotonic() < deadline, await events()
        await asyncio.sleep(0.1)
    said = await events()
    releases = [(who, result) for action, who, result in said if action == "release"]
    assert releases == [("Alex", "failed"), ("Alex", "done")]
    assert not any(action == "released_elsewhere" for action, _, _ in said)
    assert bot.sim.state.block(JOOST) is None
