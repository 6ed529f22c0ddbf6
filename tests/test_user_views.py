"""User-specific views (Teams Universal Actions), at the protocol level: the Agents Playground
does not support them, so these tests send what Teams sends. The card a conversation holds is
role-neutral and carries `refresh`; each viewer's automatic refresh returns their own view; the
server's role checks stay exactly as they are."""

from __future__ import annotations

import json
from typing import Any

from bot.cases.model import CaseState
from tests.helpers import Recorder, actions_of, activity, invoke, texts_of

JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
MEGAN_UPN = "megan.bowen@contoso.onmicrosoft.com"
VIEWER = ("29:vera", "00000000-0000-0000-0000-0000000000c1", "Vera")
RESPONDER = ("29:rob", "00000000-0000-0000-0000-0000000000c2", "Rob")
APPROVER = ("29:alex", "00000000-0000-0000-0000-0000000000a1", "Alex")
ROLES = {"VIEWER_IDS": VIEWER[1], "RESPONDER_IDS": RESPONDER[1], "APPROVER_IDS": APPROVER[1]}
STEPS = {"run_step", "skip_step", "run_recommended"}
OWNING = {"take_case", "add_note"}  # a responder's and an approver's own bookkeeping


async def _say(bot: Any, recorder: Recorder, text: str, scope: str = "channel") -> dict[str, Any]:
    body = activity(text, service_url=recorder.url, scope=scope, aad=APPROVER[1], user=APPROVER[0])
    assert (await bot.post(body)).status_code == 201
    posted: dict[str, Any] = recorder.cards()[-1]
    return posted


async def _invoke(
    bot: Any,
    recorder: Recorder,
    verb: str,
    data: dict[str, Any],
    who: tuple[str, str, str],
    *,
    trigger: str = "manual",
    scope: str = "channel",
    reply_to: str = "act-1",
) -> dict[str, Any]:
    body = invoke(verb, data, service_url=recorder.url, trigger=trigger, reply_to=reply_to)
    body["from"] = {"id": who[0], "aadObjectId": who[1], "name": who[2]}
    body["conversation"] = activity("x", service_url="", scope=scope)["conversation"]
    response = await bot.post(body)
    assert response.status_code == 200, response.text
    card: dict[str, Any] = response.json()["value"]
    return card


def _verbs(card: dict[str, Any]) -> set[str]:
    return {a["verb"] for a in actions_of(card)}


async def _shared_case_card(bot: Any, recorder: Recorder) -> dict[str, Any]:
    """Joost's case card as posted in a channel, once the investigation finished."""
    await _say(bot, recorder, f"status {JOOST}")
    await bot.runtime.cases.idle()
    return await _say(bot, recorder, f"status {JOOST}")


async def test_each_role_gets_its_own_view_of_one_shared_card(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    shared = await _shared_case_card(bot, recorder)
    # What the channel holds for everyone: no action buttons, "Refresh for my view", refresh.
    assert _verbs(shared) == {"refresh_case"}
    assert '"title": "Refresh for my view"' in json.dumps(shared, ensure_ascii=False)
    refresh = shared["refresh"]["action"]
    assert refresh["type"] == "Action.Execute"
    assert "userIds" not in shared["refresh"]  # every member, in conversations up to 60
    views = {
        who[2]: await _invoke(
            bot, recorder, refresh["verb"], refresh["data"], who, trigger="automatic"
        )
        for who in (VIEWER, RESPONDER, APPROVER)
    }
    assert _verbs(views["Vera"]) == {"refresh_case"}
    assert _verbs(views["Rob"]) == STEPS | OWNING | {"refresh_case"}
    assert _verbs(views["Alex"]) == STEPS | OWNING | {"release", "refresh_case"}
    for card in views.values():  # each view refreshes again when the message changes
        assert card["refresh"]["action"]["verb"] == "refresh_case"
    # The manual "Refresh for my view" button (conversations over 60 members) does the same.
    mine = next(a for a in actions_of(shared) if a["verb"] == "refresh_case")
    assert _verbs(await _invoke(bot, recorder, "refresh_case", mine["data"], RESPONDER)) == (
        STEPS | OWNING | {"refresh_case"}
    )


async def test_a_viewer_replaying_a_responders_button_is_refused_and_nothing_changes(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    shared = await _shared_case_card(bot, recorder)
    refresh = shared["refresh"]["action"]["data"]
    robs = await _invoke(bot, recorder, "refresh_case", refresh, RESPONDER, trigger="automatic")
    step = next(a["data"] for a in actions_of(robs) if a["data"].get("step") == "revoke_sessions")
    answer = await _invoke(bot, recorder, "run_step", step, VIEWER)
    assert "You are not allowed to do this." in " ".join(texts_of(answer))
    await bot.runtime.cases.idle()
    assert bot.sim.state.evidence_of(JOOST).sessions_revoked is None  # the tenant untouched
    refused = [
        (e.actor_id, e.action) for e in await bot.runtime.audit.events() if e.result == "refused"
    ]
    assert refused == [(VIEWER[1], "refused:run_step")]


async def test_an_answer_to_a_click_does_not_count_as_the_shared_copy_being_current(
    start_bot: Any, recorder: Recorder
) -> None:
    # The invoke's answer replaces the card for the clicker only: the message everyone sees
    # must still be redrawn, even when the click's answer already shows the latest version.
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    await _shared_case_card(bot, recorder)
    posted = [c for c in recorder.calls if c.method == "POST" and c.body.get("attachments")]
    message_id = posted[-1].answered
    assert message_id
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    mine = await _invoke(
        bot,
        recorder,
        "refresh_case",
        {"case": case.id, "version": case.version},
        RESPONDER,
        reply_to=message_id,
    )
    skip = next(a["data"] for a in actions_of(mine) if a["verb"] == "skip_step")
    recorder.calls.clear()
    await _invoke(
        bot,
        recorder,
        "skip_step",
        dict(skip, step="reset_password", reason="done by phone"),
        RESPONDER,
        reply_to=message_id,
    )
    await bot.runtime.cases.idle()
    updates = [c for c in recorder.calls if c.method == "PUT" and message_id in c.path]
    assert updates, [c.path for c in recorder.calls]
    assert any("⏭ 1. Reset password — skipped" in line for line in texts_of(recorder.cards()[-1]))


async def test_alert_to_released_in_two_clicks_with_every_copy_updated(
    start_bot: Any, recorder: Recorder
) -> None:
    from tests.test_alerts import _install_and_subscribe, _poll, _ready

    bot = await _ready(start_bot, **ROLES)
    channel = await _install_and_subscribe(bot, recorder)
    bot.sim.state.restrict(MEGAN_UPN, "ExceedingLimitType=External;ExternalRecipientCountToday=637")
    await _poll(bot)
    alerts = [c for c in recorder.calls if c.method == "POST" and channel in c.path]
    assert len(alerts) == 1
    alert_id = alerts[0].answered
    alert = recorder.cards()[-1]
    assert _verbs(alert) == {"refresh_case"}  # everyone's copy
    refresh = alert["refresh"]["action"]["data"]
    # Alex looks at the alert: Teams fetches his view (not a click).
    mine = await _invoke(bot, recorder, "refresh_case", refresh, APPROVER, trigger="automatic")
    run = next(a["data"] for a in actions_of(mine) if a["verb"] == "run_recommended")
    await _invoke(bot, recorder, "run_recommended", run, APPROVER, reply_to=alert_id)  # click 1
    await bot.runtime.cases.idle()
    # The alert message was redrawn; Teams refreshes Alex's view of it again.
    mine = await _invoke(bot, recorder, "refresh_case", refresh, APPROVER, trigger="automatic")
    release = next(a for a in actions_of(mine) if a["verb"] == "release")
    assert release.get("isEnabled", True)
    await _invoke(bot, recorder, "release", release["data"], APPROVER, reply_to=alert_id)  # 2
    await bot.runtime.cases.idle()
    case = (
        await bot.runtime.cases.open_for(MEGAN_UPN)
        or (await bot.runtime.cases.history(MEGAN_UPN))[0]
    )
    assert case.state in (CaseState.RELEASED, CaseState.VERIFIED)
    assert bot.sim.state.block(MEGAN_UPN) is None
    latest = [c for c in recorder.calls if c.method == "PUT" and (alert_id or "-") in c.path]
    assert latest
    final = latest[-1].body["attachments"][0]["content"]
    assert any("Released" in line for line in texts_of(final)), texts_of(final)


async def test_a_card_asked_for_in_dutch_stays_dutch_on_every_redraw(
    start_bot: Any, recorder: Recorder
) -> None:
    # An English Teams client, a Dutch command: the card is Dutch, and so is every redraw of
    # that message (the investigation finishing, a step), not the client's English.
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    body = activity(f"toestand {JOOST}", service_url=recorder.url, scope="channel", aad=APPROVER[1])
    assert body.get("locale", "en-US").startswith("en")
    assert (await bot.post(body)).status_code == 201
    assert "Onderzoek" in texts_of(recorder.cards()[-1])
    posted = [c for c in recorder.calls if c.method == "POST" and c.body.get("attachments")]
    message_id = posted[-1].answered
    await bot.runtime.cases.idle()
    redraws = [c for c in recorder.calls if c.method == "PUT" and (message_id or "-") in c.path]
    assert redraws
    redrawn = texts_of(redraws[-1].body["attachments"][0]["content"])
    assert "Onderzoek" in redrawn
    assert "Investigation" not in redrawn
