"""Server-side authorisation: roles, default deny, tenant pinning; every refusal audited."""

from __future__ import annotations

from typing import Any

from bot.access import AccessPolicy, Role, ids
from tests.conftest import BotUnderTest
from tests.helpers import Recorder, actions_of, activity, invoke, texts_of

VIEWER = "00000000-0000-0000-0000-0000000000c3"
RESPONDER = "00000000-0000-0000-0000-0000000000d4"
APPROVER = "00000000-0000-0000-0000-0000000000e5"
NOBODY = "00000000-0000-0000-0000-0000000000f6"
ROLES = {"VIEWER_IDS": VIEWER, "RESPONDER_IDS": RESPONDER, "APPROVER_IDS": APPROVER}
NOT_ALLOWED = "You are not allowed to do this. Ask a BlockWatch administrator for the right role."
JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"


def test_roles_include_the_ones_below() -> None:
    policy = AccessPolicy(ids(VIEWER), ids(RESPONDER.upper()), ids(f" {APPROVER} ,"))
    assert [policy.role_of(x) for x in (VIEWER, RESPONDER, APPROVER, NOBODY)] == [
        Role.VIEWER,
        Role.RESPONDER,
        Role.APPROVER,
        Role.NONE,
    ]
    assert policy.tenant_allowed("anything")
    assert not AccessPolicy(tenants=frozenset({"t1"})).tenant_allowed("t2")


async def _say(bot: BotUnderTest, recorder: Recorder, text: str, aad: str, **kw: Any) -> Any:
    await bot.post(activity(text, service_url=recorder.url, aad=aad, **kw))
    return texts_of(recorder.cards()[-1])


async def _press(
    bot: BotUnderTest, recorder: Recorder, verb: str, data: dict[str, Any], aad: str
) -> Any:
    body = invoke(verb, data, service_url=recorder.url)
    body["from"]["aadObjectId"] = aad
    return (await bot.post(body)).json()["value"]


async def test_unknown_user_is_refused_politely_and_audited(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**ROLES)
    assert NOT_ALLOWED in await _say(bot, recorder, "who is blocked", NOBODY)
    assert "Restricted senders" in await _say(bot, recorder, "who is blocked", VIEWER)
    events = await bot.runtime.cases.audit.events()
    assert [(e.actor_id, e.action, e.result) for e in events] == [
        (NOBODY, "refused:list", "refused")
    ]


async def test_viewer_cannot_run_a_step_and_responder_cannot_release(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    card = await _press(bot, recorder, "open_case", {"upn": JOOST}, VIEWER)
    await bot.runtime.cases.background.idle()
    case = await bot.runtime.cases.store.open_for(JOOST)
    assert case is not None
    card = await _press(
        bot, recorder, "refresh_case", {"case": case.id, "version": case.version}, VIEWER
    )
    step = next(a["data"] for a in actions_of(card) if a["data"].get("step") == "revoke_sessions")
    assert NOT_ALLOWED in texts_of(await _press(bot, recorder, "run_step", step, VIEWER))
    release = dict(
        next(a["data"] for a in actions_of(card) if a["verb"] == "release"),
        override_reason="trust me",
    )
    assert NOT_ALLOWED in texts_of(await _press(bot, recorder, "release", release, RESPONDER))
    assert bot.sim.state.block(JOOST) is not None
    assert bot.sim.state.evidence_of(JOOST).sessions_revoked is None
    refused = [
        (e.actor_id, e.action)
        for e in await bot.runtime.cases.audit.events()
        if e.result == "refused"
    ]
    assert refused == [(VIEWER, "refused:run_step"), (RESPONDER, "refused:release")]
    await _press(bot, recorder, "run_step", step, RESPONDER)
    await bot.runtime.cases.background.idle()
    assert bot.sim.state.evidence_of(JOOST).sessions_revoked is not None


async def test_only_approvers_change_subscriptions(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot(**ROLES)
    assert NOT_ALLOWED in await _say(bot, recorder, "alerts on", RESPONDER, scope="channel")
    assert await bot.runtime.endpoint.outbox.conversations.subscriptions() == []
    lines = await _say(bot, recorder, "alerts on", APPROVER, scope="channel")
    assert "Alerts are on here: new restrictions will be posted in this conversation." in lines


async def test_foreign_tenant_is_refused(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot(**ROLES)
    foreign = activity("who is blocked", service_url=recorder.url, aad=APPROVER)
    foreign["conversation"]["tenantId"] = "99999999-9999-9999-9999-999999999999"
    foreign["channelData"]["tenant"]["id"] = "99999999-9999-9999-9999-999999999999"
    await bot.post(foreign)
    assert NOT_ALLOWED in texts_of(recorder.cards()[-1])
    events = await bot.runtime.cases.audit.events()
    assert [(e.action, e.detail) for e in events] == [("refused:list", "foreign tenant")]


async def test_forged_card_data_naming_another_case_is_refused(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    forged = {"case": "11111111-2222-3333-4444-555555555555", "version": 1, "step": "x"}
    lines = texts_of(await _press(bot, recorder, "run_step", forged, APPROVER))
    assert lines[0] == "That didn't work"
    upn_instead = {"upn": JOOST, "version": 1, "override_reason": "x"}
    lines = texts_of(await _press(bot, recorder, "release", upn_instead, APPROVER))
    assert lines[0] == "That didn't work"
    assert bot.sim.state.block(JOOST) is not None
