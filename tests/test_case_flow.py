"""The whole case flow through /api/messages on the compromised scenario of the simulated tenant."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from bot.cases.model import CaseState
from bot.cases.outcomes import StepName, StepStatus
from bot.cases.steps.review_mfa import MethodRef, MethodsUndo
from tests.flow import (
    ALEX,
    JOOST,
    MEGAN,
    RELEASING,
    action,
    click,
    compromised_bot,
    open_joost,
    view_as,
)
from tests.helpers import Recorder, actions_of, activity, texts_of


async def test_open_investigate_remediate_release_verify(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot)
    tenant = bot.sim.state
    card = await open_joost(bot, recorder)
    lines = texts_of(card)
    assert "⚠ . — deletes mail, matches words like invoice or payment, hidden rule" in lines
    assert "⚠ Archive updates → RSS Subscriptions — moves mail out of sight" in lines
    # Every section is there; a long one shows its suspicious findings first and counts the
    # rest ("… +N") when the card would not fit otherwise.
    for section in (
        "Inbox rules",
        "Mailbox forwarding",
        "Sign-in methods (MFA)",
        "App consents (OAuth)",
    ):
        assert section in lines
    assert (
        "⚠ j.vandenbergh.backup@proton-mailbox.example — forwards to an external address" in lines
    )
    assert "⚠ svc-sync@contoso.onmicrosoft.com — someone else has access" in lines
    # Graph v1.0 gives phone methods no date: the directory audit log shows it is new.
    assert "⚠ +234 803 555 0199 — added in the last 7 days" in lines
    assert "⚠ high — flagged at risk" in lines
    assert any("impossible travel" in line for line in lines)
    assert "⚠ Mail Backup Pro — can read or send mail, unverified publisher" in lines
    assert any(line.startswith("⚠ 420 messages to 4 recipients (3 external)") for line in lines)
    # The card the recorder saw was updated in place when the investigation finished.
    assert any(c.method == "PUT" for c in recorder.calls)

    card = await click(bot, recorder, "run_recommended", action(card, "run_recommended"))
    await bot.runtime.cases.idle()
    evidence_of = tenant.evidence_of(JOOST)
    assert evidence_of.password_changed is not None
    assert evidence_of.force_change is True
    assert evidence_of.sessions_revoked is not None
    assert evidence_of.forwarding_smtp is None
    assert {r.name: r.enabled for r in evidence_of.rules} == {
        ".": False,
        "Archive updates": False,
        "Sync [Verify your admin account](https://evil.example/login) **now**": False,
        "Newsletter": True,
    }
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.state is CaseState.READY
    assert [case.step(s).status for s in StepName][:4] == [StepStatus.DONE] * 4

    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    assert (
        "The checklist is done. Releasing takes effect usually within an hour, at most 24 "
        "hours." in texts_of(card)
    )
    card = await click(bot, recorder, "release", action(card, "release"))
    assert RELEASING in texts_of(card)
    await bot.runtime.cases.idle()
    assert tenant.block(JOOST) is None
    final = await bot.runtime.cases.get(case.id)
    assert final is not None
    assert final.state is CaseState.VERIFIED
    assert final.closed_at is not None

    events = await bot.runtime.audit.events(case_id=case.id)
    actions = [e.action for e in events]
    for expected in [
        "case_opened",
        "investigation_started",
        "investigation_finished",
        "recommended_started",
        "step_finished:reset_password",
        "step_finished:revoke_sessions",
        "step_finished:remove_forwarding",
        "step_finished:disable_rules",
        "case_ready",
        "release",
        "release_verified",
    ]:
        assert expected in actions, (expected, actions)
    assert {e.actor_name for e in events if e.action.startswith("step_")} == {"Alex"}
    assert next(e for e in events if e.action == "release").actor_id == ALEX[1]


async def test_temporary_password_only_in_a_private_chat(
    start_bot: Any, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder, scope="channel")
    await click(
        bot, recorder, "run_step", action(card, "run_step", "reset_password"), scope="channel"
    )
    await bot.runtime.cases.idle()
    created = [c for c in recorder.calls if c.method == "POST" and c.path == "/v3/conversations"]
    assert len(created) == 1
    assert created[0].body["members"] == [{"id": ALEX[0]}]
    private = [
        c for c in recorder.calls if c.body.get("text", "").startswith("Temporary password for")
    ]
    assert len(private) == 1
    assert "19:general" not in private[0].path
    password = re.search(r": (\S+)\n", private[0].body["text"])
    assert password is not None
    secret = password[1]
    assert len(secret) >= 16
    others = [c for c in recorder.calls if c is not private[0]]
    assert all(secret not in str(c.body) for c in others)
    assert secret not in caplog.text
    async with bot.runtime.engine.connect() as conn:
        for table in ("cases", "case_steps", "audit_events", "conversations", "posted_cards"):
            rows = (await conn.execute(sa.text(f"SELECT * FROM {table}"))).all()  # noqa: S608
            assert secret not in str(rows), table


async def test_two_admins_release_at_once_only_one_removal(
    start_bot: Any, recorder: Recorder
) -> None:
    import asyncio

    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    override = dict(action(card, "release"), override_reason="user called, confirmed by phone")
    cards = await asyncio.gather(
        *[
            click(bot, recorder, "release", override, user=ALEX if i % 2 else MEGAN)
            for i in range(10)
        ]
    )
    await bot.runtime.cases.idle()  # the removal runs in the background
    removals = [r for r in bot.sim.requests if r.operation == "Remove-BlockedSenderAddress"]
    assert len(removals) == 1
    notices = [t for c in cards for t in texts_of(c)]
    assert notices.count(RELEASING) == 1
    events = await bot.runtime.audit.events(target=JOOST)
    assert [e.action for e in events].count("release") == 1
    assert [e.action for e in events].count("release_override") == 1


async def test_retried_invoke_and_stale_card_change_nothing(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    data = action(card, "run_step", "revoke_sessions")
    await click(bot, recorder, "run_step", data, activity_id="retry-1")
    again = await click(bot, recorder, "run_step", data, activity_id="retry-1")
    await bot.runtime.cases.idle()
    assert "This card was out of date; here is the current state. Nothing was changed." in texts_of(
        again
    )
    revokes = [r for r in bot.sim.requests if r.operation.endswith("/revokeSignInSessions")]
    assert len(revokes) == 1
    stale = await click(bot, recorder, "run_step", action(card, "run_step", "reset_password"))
    assert "This card was out of date; here is the current state. Nothing was changed." in texts_of(
        stale
    )
    assert bot.sim.state.evidence_of(JOOST).password_changed is None


async def test_failing_step_shows_why_and_retry_works(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot)
    bot.sim.state.app.graph_roles.discard("User.RevokeSessions.All")
    card = await open_joost(bot, recorder)
    await click(bot, recorder, "run_step", action(card, "run_step", "revoke_sessions"))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.step(StepName.REVOKE_SESSIONS).status is StepStatus.FAILED
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    lines = texts_of(card)
    assert "❌ 2. Revoke sign-in sessions — failed" in lines
    assert any("Missing: User.RevokeSessions.All" in line for line in lines)
    retry = next(a for a in actions_of(card) if a["data"].get("step") == "revoke_sessions")
    assert retry["title"] == "Retry"
    bot.sim.state.app.graph_roles.add("User.RevokeSessions.All")
    await click(bot, recorder, "run_step", retry["data"])
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.get(case.id)
    assert case is not None
    assert case.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
    assert case.step(StepName.REVOKE_SESSIONS).attempt == 2


async def test_unblock_limit_says_open_a_support_case(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot)
    bot.sim.state.unblock_limit.add(JOOST)
    # Words BlockWatch has never seen: the text of this error is not public.
    bot.sim.state.unblock_limit_message = "Release quota for {sender} exhausted (ref 0x51A7)."
    card = await open_joost(bot, recorder)
    override = dict(action(card, "release"), override_reason="CEO is waiting")
    card = await click(bot, recorder, "release", override)
    assert RELEASING in texts_of(card)
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.state is CaseState.REMEDIATING
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    lines = texts_of(card)
    assert (
        "The last release attempt failed: Exchange Online refused the request: Release quota for "
        f"{JOOST} exhausted (ref 0x51A7)." in lines
    )
    assert any(line.startswith("This will not pass by itself.") for line in lines)
    links = [a for a in actions_of(card, any_kind=True) if a["type"] == "Action.OpenUrl"]
    assert "Open a Microsoft support case" in [a["title"] for a in links]
    events = await bot.runtime.audit.events(case_id=case.id)
    assert [(e.action, e.result) for e in events if e.action == "release"] == [
        ("release", "failed")
    ]


async def test_release_waits_for_the_checklist(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    button = next(
        a for a in actions_of(card) if a["verb"] == "release" and a["title"] == "Release sender"
    )
    assert button["isEnabled"] is False
    refused = await click(bot, recorder, "release", button["data"])
    assert "Finish steps 1–4 first, or give an override reason." in texts_of(refused)
    assert bot.sim.state.block(JOOST) is not None


async def test_four_eyes_requester_cannot_approve(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot, REQUIRE_SECOND_APPROVER="true")
    card = await open_joost(bot, recorder)
    card = await click(
        bot,
        recorder,
        "release",
        dict(action(card, "release"), override_reason="confirmed by phone"),
    )
    assert "Release requested: a second admin must approve it." in texts_of(card)
    # The requester's own view says it waits for someone else, and offers no Approve ...
    assert "You asked for this release: a second approver must approve it." in texts_of(card)
    assert "approve_release" not in {a["verb"] for a in actions_of(card)}
    # ... the second approver's view (Teams fetches it when she looks) offers it.
    megans = await view_as(bot, recorder, card, MEGAN)
    assert "approve_release" in {a["verb"] for a in actions_of(megans)}
    # The requester replaying her button is refused by the server all the same.
    own = await click(bot, recorder, "approve_release", action(megans, "approve_release"))
    assert "You asked for this release yourself: a different admin must approve it." in texts_of(
        own
    )
    assert bot.sim.state.block(JOOST) is not None
    approved = await click(
        bot, recorder, "approve_release", action(megans, "approve_release"), user=MEGAN
    )
    assert RELEASING in texts_of(approved)
    await bot.runtime.cases.idle()
    assert bot.sim.state.block(JOOST) is None
    events = await bot.runtime.audit.events(target=JOOST)
    assert [
        (e.action, e.actor_name)
        for e in events
        if e.action in ("override_requested", "approval_refused", "release_approved")
    ] == [
        ("override_requested", "Alex"),
        ("approval_refused", "Alex"),
        ("release_approved", "Megan"),
    ]


async def test_status_history_and_audit_commands(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot)
    await bot.post(activity(f"status {JOOST}", service_url=recorder.url))
    await bot.runtime.cases.idle()
    assert texts_of(recorder.cards()[0])[0] == "Joost van den Bergh"
    await bot.post(activity(f"geschiedenis {JOOST}", service_url=recorder.url))
    history = texts_of(recorder.cards()[-1])
    assert history[0] == f"Geschiedenis van {JOOST}"
    assert any("case_opened" in line for line in history)
    await bot.post(activity("audit 7", service_url=recorder.url))
    audit_lines = texts_of(recorder.cards()[-1])
    assert audit_lines[0] == "Audit trail, last 7 days"
    assert any("investigation_finished" in line for line in audit_lines)
    # What Teams' command menu sends: the bare command (or one without an address), answered
    # with a picker of the senders that have a case, and a real example to type.
    for typed, heading in (
        ("status nobody", "Whose case card?"),
        ("status", "Whose case card?"),
        ("history", "Whose history?"),
    ):
        await bot.post(activity(typed, service_url=recorder.url))
        picker = recorder.cards()[-1]
        lines = texts_of(picker)
        assert lines[0] == heading, typed
        (choice,) = [b for b in picker["body"] if b["type"] == "Input.ChoiceSet"]
        assert [c["value"] for c in choice["choices"]] == [JOOST]
        assert any(line.startswith("Or type, for example: ") and JOOST in line for line in lines)
        assert "<" not in json.dumps(picker)  # nothing Teams would take for a tag
    shown = await click(bot, recorder, "pick_status", {"lang": "en", "upn": JOOST})
    assert texts_of(shown)[0] == "Joost van den Bergh"
    picked = await click(bot, recorder, "pick_history", {"lang": "en", "upn": JOOST})
    assert texts_of(picked)[0] == f"History of {JOOST}"
    forged = await click(bot, recorder, "pick_status", {"lang": "en", "upn": "<script>"})
    assert texts_of(forged)[0] == "That didn't work"
    await bot.post(activity("geschiedenis", service_url=recorder.url))
    assert texts_of(recorder.cards()[-1])[0] == "Wiens geschiedenis?"
    await bot.post(activity("help", service_url=recorder.url))
    help_lines = texts_of(recorder.cards()[-1])
    assert "• status megan@contoso.com — the case card of a sender (status alone: pick one)" in (
        help_lines
    )
    assert not [line for line in help_lines if "<" in line]


async def test_review_mfa_removes_the_flagged_method(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    review = next(
        a for a in actions_of(card, any_kind=True) if a.get("title") == "Review sign-in methods…"
    )
    pick = review["card"]["body"][0]
    assert [c["title"] for c in pick["choices"]] == ["+234 803 555 0199"]
    data = dict(review["card"]["actions"][0]["data"], remove=pick["choices"][0]["value"])
    await click(bot, recorder, "run_step", data)
    await bot.runtime.cases.idle()
    kinds = [m.kind for m in bot.sim.state.evidence_of(JOOST).methods]
    assert kinds == ["password", "microsoftAuthenticator"]
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    step = case.step(StepName.REVIEW_MFA)
    assert step.status is StepStatus.DONE
    assert step.undo == MethodsUndo((MethodRef("phone", "+234 803 555 0199"),))


async def test_skip_needs_a_reason_and_counts_for_release(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot)
    card = await open_joost(bot, recorder)
    skip = next(a for a in actions_of(card, any_kind=True) if a.get("title") == "Skip a step…")
    submit = skip["card"]["actions"][0]["data"]
    refused = await click(
        bot, recorder, "skip_step", dict(submit, step="remove_forwarding", reason="  ")
    )
    assert "Write a reason first." in texts_of(refused)
    skipped = await click(
        bot,
        recorder,
        "skip_step",
        dict(
            action(refused, "refresh_case"),
            step="remove_forwarding",
            reason="forwarding is our archive service",
        ),
    )
    assert "⏭ 3. Remove mailbox forwarding — skipped" in texts_of(skipped)
    assert any("Skipped: forwarding is our archive service" in line for line in texts_of(skipped))
    assert bot.sim.state.evidence_of(JOOST).forwarding_smtp is not None
    events = await bot.runtime.audit.events(target=JOOST)
    skip_event = next(e for e in events if e.action == "step_skipped:remove_forwarding")
    assert skip_event.parameters == {"reason": "forwarding is our archive service"}


async def test_open_clicked_at_once_in_one_replica_posts_one_case_card(
    start_bot: Any, recorder: Recorder
) -> None:
    """Two admins (and a double-click) press Open on one sender in one channel at the same
    moment: one case card is posted there (the claim is a database row, not memory)."""
    bot = await compromised_bot(start_bot)
    users = [ALEX, MEGAN, ALEX, MEGAN, ALEX]
    await asyncio.gather(
        *[
            click(bot, recorder, "open_case", {"upn": JOOST}, user=user, scope="channel")
            for user in users
        ]
    )
    await bot.runtime.cases.idle()
    posted = [c for c in recorder.calls if c.method == "POST" and c.body.get("attachments")]
    assert len(posted) == 1, len(posted)
