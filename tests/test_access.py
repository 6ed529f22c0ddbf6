"""Server-side authorisation: roles, default deny, tenant pinning; every refusal audited."""

from __future__ import annotations

from typing import Any

from bot.chat.access import AccessPolicy, ids
from bot.core.people import Role
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
    events = await bot.runtime.audit.events()
    assert [(e.actor_id, e.action, e.result) for e in events] == [
        (NOBODY, "refused:list", "refused")
    ]


async def test_viewer_cannot_run_a_step_and_responder_cannot_release(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    card = await _press(bot, recorder, "open_case", {"upn": JOOST}, VIEWER)
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    viewed = await _press(
        bot, recorder, "refresh_case", {"case": case.id, "version": case.version}, VIEWER
    )
    assert {a["verb"] for a in actions_of(viewed)} == {"refresh_case"}  # the viewer's view
    # An approver's buttons, replayed by a viewer and a responder: refused on the server.
    card = await _press(
        bot, recorder, "refresh_case", {"case": case.id, "version": case.version}, APPROVER
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
        (e.actor_id, e.action) for e in await bot.runtime.audit.events() if e.result == "refused"
    ]
    assert refused == [(VIEWER, "refused:run_step"), (RESPONDER, "refused:release")]
    await _press(bot, recorder, "run_step", step, RESPONDER)
    await bot.runtime.cases.idle()
    assert bot.sim.state.evidence_of(JOOST).sessions_revoked is not None


async def test_only_approvers_change_subscriptions(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot(**ROLES)
    assert NOT_ALLOWED in await _say(bot, recorder, "alerts on", RESPONDER, scope="channel")
    assert await bot.runtime.conversations.subscriptions() == []
    lines = await _say(bot, recorder, "alerts on", APPROVER, scope="channel")
    assert "Alerts are on here: new restrictions will be posted in this conversation." in lines


async def test_foreign_tenant_is_refused(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot(**ROLES)
    foreign = activity("who is blocked", service_url=recorder.url, aad=APPROVER)
    foreign["conversation"]["tenantId"] = "99999999-9999-9999-9999-999999999999"
    foreign["channelData"]["tenant"]["id"] = "99999999-9999-9999-9999-999999999999"
    await bot.post(foreign)
    assert NOT_ALLOWED in texts_of(recorder.cards()[-1])
    await bot.runtime.foreign.flush(everything=True)  # tallied per tenant per window
    events = await bot.runtime.audit.events()
    assert [(e.action, e.target, e.result) for e in events] == [
        ("refused:foreign-tenant", "99999999-9999-9999-9999-999999999999", "refused x1")
    ]
    assert events[0].parameters["actions"] == "list"
    # Its conversation is not remembered either, so nothing is ever sent there proactively.
    conversations = bot.runtime.conversations
    assert await conversations.get(foreign["conversation"]["id"]) is None


async def test_forged_card_data_naming_another_case_is_refused(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    forged = {
        "case": "11111111-2222-3333-4444-555555555555",
        "version": 1,
        "step": "revoke_sessions",
    }
    lines = texts_of(await _press(bot, recorder, "run_step", forged, APPROVER))
    assert lines[0] == "That didn't work"
    upn_instead = {"upn": JOOST, "version": 1, "override_reason": "x"}
    lines = texts_of(await _press(bot, recorder, "release", upn_instead, APPROVER))
    assert lines[0] == "That didn't work"
    other_verb = texts_of(await _press(bot, recorder, "delete_tenant", forged, APPROVER))
    assert other_verb[0] == "That didn't work"
    assert bot.sim.state.block(JOOST) is not None
    events = await bot.runtime.audit.events()
    assert [(e.actor_id, e.action, e.result, e.detail) for e in events] == [
        (APPROVER, "refused:run_step", "refused", "invalid action: no such case"),
        (APPROVER, "refused:release", "refused", "invalid action: case must be a case id"),
        (APPROVER, "refused:delete_tenant", "refused", "unknown action"),
    ]


# ---- Entra security groups ---------------------------------------------------------------

APPROVERS_GROUP = "5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d01"  # contoso: Nestor Wilke
RESPONDERS_GROUP = "5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d02"  # contoso: Alex, through Tier 2
ALL_STAFF = "5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d04"
GROUP_ROLES = {
    "APPROVER_IDS": "",
    "RESPONDER_GROUPS": RESPONDERS_GROUP,
    "APPROVER_GROUPS": APPROVERS_GROUP,
}


def _user_id(bot: BotUnderTest, upn: str) -> str:
    user = bot.sim.state.user(upn)
    assert user is not None
    return user.id


def _membership_reads(bot: BotUnderTest) -> int:
    return sum(1 for r in bot.sim.requests if r.operation.endswith("/transitiveMemberOf"))


async def test_roles_come_from_nested_entra_groups_read_through_graph(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**GROUP_ROLES)
    alex = _user_id(bot, "alex.wilber@contoso.onmicrosoft.com")  # responders ⊃ tier 2 ∋ alex
    nestor = _user_id(bot, "nestor.wilke@contoso.onmicrosoft.com")
    adele = _user_id(bot, "adele.vance@contoso.onmicrosoft.com")  # only in All Staff
    assert "Restricted senders" in await _say(bot, recorder, "who is blocked", alex)
    assert NOT_ALLOWED in await _say(bot, recorder, "alerts on", alex, scope="channel")
    lines = await _say(bot, recorder, "alerts on", nestor, scope="channel")
    assert "Alerts are on here: new restrictions will be posted in this conversation." in lines
    assert NOT_ALLOWED in await _say(bot, recorder, "who is blocked", adele)
    refused = [(e.actor_id, e.action) for e in await bot.runtime.audit.events()]
    assert refused == [(alex, "refused:alerts_on"), (adele, "refused:list")]
    assert _membership_reads(bot) == 3  # one per person: the second ask of Alex was cached


async def test_group_changes_apply_after_the_cache_expires(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(ROLE_CACHE_SECONDS="0", **GROUP_ROLES)
    adele = _user_id(bot, "adele.vance@contoso.onmicrosoft.com")
    assert NOT_ALLOWED in await _say(bot, recorder, "who is blocked", adele)
    group = next(g for g in bot.sim.state.groups if g.id == RESPONDERS_GROUP)
    group.members.append(ALL_STAFF)  # now everyone in All Staff responds
    assert "Restricted senders" in await _say(bot, recorder, "who is blocked", adele)
    group.members.remove(ALL_STAFF)
    assert NOT_ALLOWED in await _say(bot, recorder, "who is blocked", adele)


async def test_graph_failure_denies_rather_than_guessing(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**GROUP_ROLES)
    bot.sim.state.app.graph_roles.clear()  # consent withdrawn: every Graph call is 403
    alex = _user_id(bot, "alex.wilber@contoso.onmicrosoft.com")
    assert NOT_ALLOWED in await _say(bot, recorder, "who is blocked", alex)
    assert NOT_ALLOWED in await _say(bot, recorder, "who is blocked", "not-a-guid")
    assert _membership_reads(bot) == 1  # "not-a-guid" is never sent to Graph


# ---- limits ------------------------------------------------------------------------------


async def test_command_rate_limit_is_friendly_per_user_and_audited_once(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(COMMANDS_PER_MINUTE="3", **ROLES)
    for _ in range(3):
        assert "Restricted senders" in await _say(bot, recorder, "who is blocked", VIEWER)
    for _ in range(2):
        lines = await _say(bot, recorder, "who is blocked", VIEWER)
        assert any(
            line.startswith("Easy there: you can give me at most 3 commands") for line in lines
        )
    assert "Restricted senders" in await _say(bot, recorder, "who is blocked", APPROVER)
    nl = await _say(bot, recorder, "wie is geblokkeerd", VIEWER, locale="nl-NL")
    assert any(line.startswith("Rustig aan: je kunt me hoogstens 3 opdrachten") for line in nl)
    events = await bot.runtime.audit.events()
    assert [(e.actor_id, e.action, e.detail) for e in events] == [
        (VIEWER, "refused:message", "over 3 a minute")
    ]


async def test_commands_over_1000_characters_are_rejected(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**ROLES)
    lines = await _say(bot, recorder, "who is blocked " + "x" * 1000, VIEWER)
    assert any(line.startswith("That message is too long for me") for line in lines)
    assert "Restricted senders" not in lines
    assert await bot.runtime.audit.events() == []


async def test_unknown_invokes_and_activity_types_are_a_polite_no_op(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**ROLES)
    for name in ("task/fetch", "composeExtension/query", "made/up", None):
        body = invoke("list_page", {}, service_url=recorder.url)
        body["name"] = name
        response = await bot.post(body)
        assert (response.status_code, response.content) == (200, b""), name
    for kind in ("typing", "messageReaction", "event", "nonsense"):
        body = activity("who is blocked", service_url=recorder.url, aad=APPROVER)
        body["type"] = kind
        assert (await bot.post(body)).status_code == 201, kind
    assert recorder.calls == []
    assert await bot.runtime.audit.events() == []
