"""The case flow as an admin clicks it, through /api/messages, on the compromised scenario."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.store.watched import WatchedSenders
from tests.conftest import BotUnderTest
from tests.helpers import CARD_BUDGET, Recorder, actions_of, activity, invoke, texts_of

JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
ALEX = ("29:alex", "00000000-0000-0000-0000-0000000000a1")
MEGAN = ("29:megan", "00000000-0000-0000-0000-0000000000b2")
# What the admin who released sees at once (the release itself runs in the background).
RELEASING = (
    "Releasing: BlockWatch is asking Exchange Online to lift the block. This card updates itself."
)


async def compromised_bot(start_bot: Any, **settings: Any) -> BotUnderTest:
    """The demo bot on the compromised scenario, following up releases quickly."""
    bot: BotUnderTest = await start_bot(
        DEMO_SCENARIO="compromised", FOLLOW_UP_SECONDS="0.1", **settings
    )
    return bot


async def click(
    bot: BotUnderTest,
    recorder: Recorder,
    verb: str,
    data: dict[str, Any],
    *,
    user: tuple[str, str] = ALEX,
    activity_id: str | None = None,
    scope: str = "personal",
    trigger: str = "manual",
) -> dict[str, Any]:
    """Press a button as `user`; returns the card the invoke answered with."""
    body = invoke(verb, data, service_url=recorder.url, trigger=trigger)
    body["from"] = {
        "id": user[0],
        "name": "Alex" if user is ALEX else "Megan",
        "aadObjectId": user[1],
    }
    if scope != "personal":
        body["conversation"] = activity("x", service_url="", scope=scope)["conversation"]
    if activity_id:
        body["id"] = activity_id
    response = await bot.post(body)
    assert response.status_code == 200, response.text
    assert len(response.text.encode("utf-16-le")) < CARD_BUDGET
    assert all(c.size_utf16 < CARD_BUDGET for c in recorder.calls)
    card: dict[str, Any] = response.json()["value"]
    return card


async def view_as(
    bot: BotUnderTest, recorder: Recorder, card: dict[str, Any], user: tuple[str, str], **kw: Any
) -> dict[str, Any]:
    """`user`'s own view of a card, as Teams fetches it when they look at it: the card's
    `refresh` action, sent as an automatic invoke."""
    refresh = card["refresh"]["action"]
    return await click(
        bot, recorder, refresh["verb"], refresh["data"], user=user, trigger="automatic", **kw
    )


def action(card: dict[str, Any], verb: str, step: str | None = None) -> dict[str, Any]:
    """The data of the card's button with this verb (and step)."""
    for found in actions_of(card):
        if found["verb"] == verb and (step is None or found["data"].get("step") == step):
            data: dict[str, Any] = found["data"]
            return data
    raise AssertionError(f"no {verb} {step or ''} button in {texts_of(card)}")


async def open_joost(bot: BotUnderTest, recorder: Recorder, **kw: Any) -> dict[str, Any]:
    """Open Joost's case and wait for the investigation; returns the fresh card."""
    await click(bot, recorder, "open_case", {"upn": JOOST}, **kw)
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    return await click(
        bot, recorder, "refresh_case", {"case": case.id, "version": case.version}, **kw
    )


async def subscribed(bot: BotUnderTest, recorder: Recorder) -> str:
    """Once the watcher has taken its baseline: BlockWatch installed in a channel that asked
    for alerts; the channel's id (the recorder cleared, so what it gets next is alerts)."""
    watched = WatchedSenders(bot.runtime.engine)
    deadline = time.monotonic() + 10
    while not await watched.baseline_taken():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    install = activity("", service_url=recorder.url, scope="channel")
    install.update(type="installationUpdate", action="add")
    install.pop("text")
    await bot.post(install)
    await bot.post(activity("alerts on", service_url=recorder.url, scope="channel"))
    recorder.calls.clear()
    channel: str = install["conversation"]["id"]
    return channel
