"""Through the real endpoint: Bot Framework activities in, connector calls out (recorded)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cards.common import utf16_size
from tests.conftest import BotUnderTest
from tests.helpers import CARD_BUDGET, Recorder, actions_of, activity, invoke, texts_of

FABRIKAM = "0c6f1e7a-9b8d-4f3e-a2c1-7d6e5f4a3b21"  # the tenant of the `large` scenario


async def _ask(bot: BotUnderTest, recorder: Recorder, text: str, **kw: Any) -> dict[str, Any]:
    response = await bot.post(activity(text, service_url=recorder.url, **kw))
    assert response.status_code == 201, response.text
    cards = recorder.cards()
    assert cards, f"bot sent no card; calls: {recorder.calls}"
    return cards[-1]


async def test_personal_chat_who_is_blocked_lists_every_restricted_sender(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    card = await _ask(bot, recorder, "who is blocked")
    lines = texts_of(card)
    assert "Restricted senders" in lines
    assert "3 users are restricted from sending email." in lines
    assert "Joost van den Bergh" in lines
    assert "Zoë Ångström-Núñez" in lines
    assert "Łukasz Żółć 🚀" in lines
    assert "Sent to 1,842 external recipients today: external recipient limit exceeded" in lines
    assert "Sent to 1,311 internal recipients today: internal recipient limit exceeded" in lines
    assert any(line.startswith("Blocked 47 minutes ago · ") for line in lines)
    assert "Temporary: lifted automatically the next day (UTC)" in lines
    opens = [a for a in actions_of(card) if a["verb"] == "open_case"]
    assert [a["data"]["upn"] for a in opens] == [
        "joost.vandenbergh@contoso.onmicrosoft.com",
        "zoe.angstrom@contoso.onmicrosoft.com",
        "lukasz.zolc@contoso.onmicrosoft.com",
    ]
    call = recorder.calls[-1]
    assert call.method == "POST"
    assert call.path.startswith("/v3/conversations/a:personal-conv/activities/")


async def test_group_chat_mention_is_stripped_before_matching(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    card = await _ask(bot, recorder, "who's blocked?", scope="groupChat")
    assert "3 users are restricted from sending email." in texts_of(card)
    assert recorder.calls[-1].path.startswith("/v3/conversations/19:group@thread.v2/activities")


async def test_channel_message_gets_the_list_in_its_thread(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    card = await _ask(bot, recorder, "restricted senders", scope="channel")
    assert "Restricted senders" in texts_of(card)
    assert "19:general@thread.tacv2;messageid=1700000000000" in recorder.calls[-1].path


async def test_dutch_locale_gets_dutch_card(bot: BotUnderTest, recorder: Recorder) -> None:
    card = await _ask(bot, recorder, "who is blocked", locale="nl-NL", timezone="Europe/Amsterdam")
    lines = texts_of(card)
    assert "Geblokkeerde afzenders" in lines
    assert "3 gebruikers zijn geblokkeerd voor het verzenden van e-mail." in lines
    assert (
        "Vandaag naar 1.842 externe ontvangers verzonden: limiet voor externe ontvangers "
        "overschreden" in lines
    )
    assert any(
        line.startswith("Geblokkeerd 47 minuten geleden · ") and "Europe/Amsterdam" in line
        for line in lines
    )
    assert [a["title"] for a in actions_of(card)][:1] == ["Openen"]


async def test_dutch_words_get_dutch_answer_even_with_english_locale(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    card = await _ask(bot, recorder, "wie is geblokkeerd?", locale="en-US")
    assert "Geblokkeerde afzenders" in texts_of(card)


async def test_unknown_text_gets_short_help(bot: BotUnderTest, recorder: Recorder) -> None:
    card = await _ask(bot, recorder, "make me a sandwich")
    lines = texts_of(card)
    assert lines[0] == 'Sorry, I didn\'t understand "make me a sandwich".'
    assert any(line.startswith("• who is blocked") for line in lines)


async def test_hulp_gives_dutch_help(bot: BotUnderTest, recorder: Recorder) -> None:
    card = await _ask(bot, recorder, "hulp")
    assert "Wat ik kan" in texts_of(card)
    assert any(line.startswith("• wie is geblokkeerd") for line in texts_of(card))


async def test_open_posts_the_case_card_and_keeps_the_list(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    zoe = "zoe.angstrom@contoso.onmicrosoft.com"
    listed = await _ask(bot, recorder, "who is blocked")
    opens = {a["data"]["upn"]: a["data"] for a in actions_of(listed) if a["verb"] == "open_case"}
    recorder.calls.clear()
    response = await bot.post(invoke("open_case", opens[zoe], service_url=recorder.url))
    assert response.status_code == 200
    body = response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    # The answer is the list again, Zoë's row marked as opened; the other rows as they were.
    still = body["value"]
    assert texts_of(still)[0] == "Restricted senders"
    titles = {a["data"]["upn"]: a["title"] for a in actions_of(still) if a["verb"] == "open_case"}
    assert titles[zoe] == "Opened ✓"
    assert {t for u, t in titles.items() if u != zoe} == {"Open"}
    # The case card went out as a message of its own, in the conversation clicked in.
    (posted,) = [c for c in recorder.calls if c.method == "POST" and c.body.get("attachments")]
    lines = texts_of(posted.body["attachments"][0]["content"])
    assert lines[0] == "Zoë Ångström-Núñez"
    assert lines[1] == "zoe.angstrom@contoso.onmicrosoft.com · Investigating…"
    assert "Gathering evidence… this card updates itself." in lines
    # Opening it again (or another admin opening it here) posts no second card: the one
    # there is kept true.
    await bot.post(invoke("open_case", opens[zoe], service_url=recorder.url))
    posts = [c for c in recorder.calls if c.method == "POST" and c.body.get("attachments")]
    assert len(posts) == 1


async def test_open_case_for_released_sender_says_so(bot: BotUnderTest, recorder: Recorder) -> None:
    bot.sim.state.blocks.clear()
    response = await bot.post(
        invoke(
            "open_case",
            {"upn": "joost.vandenbergh@contoso.onmicrosoft.com"},
            service_url=recorder.url,
        )
    )
    assert texts_of(response.json()["value"])[0] == (
        "joost.vandenbergh@contoso.onmicrosoft.com is no longer restricted"
    )


async def test_forged_or_malformed_card_data_gets_error_card(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    for verb, data in [
        ("open_case", {"upn": "not-an-address"}),
        ("list_page", {"page": "many"}),
        ("delete_everything", {}),
    ]:
        response = await bot.post(invoke(verb, data, service_url=recorder.url))
        assert response.status_code == 200
        lines = texts_of(response.json()["value"])
        assert lines[0] == "That didn't work", (verb, lines)


async def test_submit_fallback_updates_the_card_in_place(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    body = activity(
        "",
        service_url=recorder.url,
        value={"verb": "open_case", "upn": "joost.vandenbergh@contoso.onmicrosoft.com"},
        reply_to="act-77",
    )
    response = await bot.post(body)
    assert response.status_code == 201
    # The case card is posted, and the list message is updated in place (row marked).
    posted = [c for c in recorder.calls if c.method == "POST" and c.body.get("attachments")]
    assert texts_of(posted[-1].body["attachments"][0]["content"])[0] == "Joost van den Bergh"
    call = recorder.calls[-1]
    assert call.method == "PUT"
    assert call.path.endswith("/activities/act-77")
    assert texts_of(recorder.cards()[-1])[0] == "Restricted senders"


async def test_250_restricted_senders_are_paged_under_30kb(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(DEMO_SCENARIO="large")
    first = await _ask(bot, recorder, "list restricted", tenant=FABRIKAM)
    assert recorder.calls[-1].size_utf16 < CARD_BUDGET
    footer = [t for t in texts_of(first) if t.startswith("Page 1 of ")]
    assert footer, texts_of(first)
    pages = int(footer[0].split(" of ")[1].split(" ")[0])
    assert pages >= 2
    seen: list[str] = [a["data"]["upn"] for a in actions_of(first) if a["verb"] == "open_case"]
    for number in range(2, pages + 1):
        response = await bot.post(
            invoke("list_page", {"page": number}, service_url=recorder.url, tenant=FABRIKAM)
        )
        envelope = response.json()
        assert utf16_size(envelope) < CARD_BUDGET
        card = envelope["value"]
        assert any(t.startswith(f"Page {number} of {pages}") for t in texts_of(card))
        titles = [a["title"] for a in actions_of(card) if a["verb"] == "list_page"]
        assert "Previous" in titles
        assert ("Next" in titles) == (number < pages)
        seen += [a["data"]["upn"] for a in actions_of(card) if a["verb"] == "open_case"]
    assert len(seen) == 250
    assert len(set(seen)) == 250


async def test_250_dutch_pages_also_fit(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot(DEMO_SCENARIO="large")
    await _ask(bot, recorder, "geblokkeerde gebruikers", tenant=FABRIKAM)
    assert recorder.calls[-1].size_utf16 < CARD_BUDGET
    assert "250 gebruikers zijn geblokkeerd voor het verzenden van e-mail." in texts_of(
        recorder.cards()[-1]
    )


async def test_invalid_json_is_400_and_wrong_type_415(bot: BotUnderTest) -> None:
    bad = await bot.client.post(
        "/api/messages", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    text = await bot.client.post(
        "/api/messages", content=b"hi", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    not_activity = await bot.post({"hello": "world"})
    assert not_activity.status_code == 400


async def test_body_over_256kb_is_413(bot: BotUnderTest, recorder: Recorder) -> None:
    huge = activity("x" * 300_000, service_url=recorder.url)
    response = await bot.post(huge)
    assert response.status_code == 413
    assert recorder.calls == []


async def test_health_and_readiness(bot: BotUnderTest) -> None:
    assert (await bot.client.get("/healthz")).json() == {"status": "ok"}
    ready = await bot.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readiness_stays_when_the_tenant_is_unreachable_and_fails_with_the_database(
    bot: BotUnderTest,
) -> None:
    await bot.sim.stop()  # Microsoft down: every replica shares it, none is taken out
    ready = await bot.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
    async with bot.runtime.engine.begin() as conn:  # this replica's own problem: not ready
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    ready = await bot.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "migrations": "failing"}
