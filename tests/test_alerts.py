"""Proactive alerts from installation to the alert card, through the real endpoint."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cases.model import CaseState
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario
from bot.store.watched import WatchedSenders
from tests.conftest import BotUnderTest
from tests.helpers import CARD_BUDGET, Recorder, activity, texts_of

MEGAN = "megan.bowen@contoso.onmicrosoft.com"
QUIET = {"ALERT_POLL_SECONDS": "3600", "DEMO_RESTRICT_AFTER_SECONDS": "0"}


async def _ready(start_bot: Any, **extra: str) -> BotUnderTest:
    """A bot whose watcher has taken its baseline, in a conversation that asked for alerts."""
    bot: BotUnderTest = await start_bot(**QUIET, **extra)
    watched = WatchedSenders(bot.runtime.engine)
    deadline = time.monotonic() + 10
    while not await watched.baseline_taken():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    return bot


async def _install_and_subscribe(
    bot: BotUnderTest, recorder: Recorder, scope: str = "channel"
) -> str:
    install = activity("", service_url=recorder.url, scope=scope)
    install.update(type="installationUpdate", action="add")
    install.pop("text")
    assert (await bot.post(install)).status_code in (200, 201)
    await bot.post(activity("alerts on", service_url=recorder.url, scope=scope))
    assert "Alerts are on here: new restrictions will be posted in this conversation." in texts_of(
        recorder.cards()[-1]
    )
    conversation: str = install["conversation"]["id"]
    recorder.calls.clear()  # from here on, every card posted there is an alert
    return conversation


async def _poll(bot: BotUnderTest) -> Any:
    result = await bot.runtime.watcher.poll_once()
    await bot.runtime.delivery.deliver_pending()
    await bot.runtime.cases.idle()
    return result


def _alerts(recorder: Recorder, conversation: str) -> list[Any]:
    return [
        c
        for c in recorder.calls
        if c.method == "POST"
        and c.path.startswith(f"/v3/conversations/{conversation}/activities")
        and c.body.get("attachments")
    ]


async def test_new_restriction_is_posted_to_the_subscribed_channel(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder)
    assert (await _poll(bot)).new == []  # nothing changed since the baseline
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External;ExternalRecipientCountToday=637")
    result = await _poll(bot)
    assert result.new == [MEGAN]
    posted = _alerts(recorder, channel)
    assert len(posted) == 1
    card = posted[0].body["attachments"][0]["content"]
    assert texts_of(card)[0] == "Megan Bowen"
    assert posted[0].size_utf16 < CARD_BUDGET
    # The investigation finished (before the alert went out, or after it and the card was
    # updated in place): the alert message shows it.
    assert posted[0].answered is not None
    shown = recorder.shown_in(channel, posted[0].answered)
    assert shown is not None
    assert "Investigation" in texts_of(shown)
    assert (await _poll(bot)).new == []
    assert len(_alerts(recorder, channel)) == 1


async def test_release_elsewhere_updates_the_posted_card(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder)
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External")
    await _poll(bot)
    alert_id = "act-"
    assert _alerts(recorder, channel)
    bot.sim.state.blocks = [b for b in bot.sim.state.blocks if b.sender != MEGAN]
    result = await _poll(bot)
    assert result.gone == [MEGAN]
    updates = [
        c
        for c in recorder.calls
        if c.method == "PUT"
        and c.path.startswith(f"/v3/conversations/{channel}/activities/{alert_id}")
    ]
    assert "megan.bowen@contoso.onmicrosoft.com · Released and verified" in texts_of(
        updates[-1].body["attachments"][0]["content"]
    )
    history = await bot.runtime.cases.history(MEGAN)
    assert history[0].state is CaseState.VERIFIED
    events = await bot.runtime.audit.events(target=MEGAN)
    assert "released_elsewhere" in [e.action for e in events]


async def test_re_restriction_opens_a_new_linked_case_and_alerts_again(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder)
    first = bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External")
    await _poll(bot)
    await asyncio.sleep(0.01)
    bot.sim.state.blocks.remove(first)
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=Internal")
    result = await _poll(bot)
    assert result.re_restricted == [MEGAN]
    cases = await bot.runtime.cases.history(MEGAN)
    assert [c.state for c in cases] == [CaseState.INVESTIGATING, CaseState.RE_RESTRICTED] or [
        c.state for c in cases
    ][1] is CaseState.RE_RESTRICTED
    assert cases[0].previous_case_id == cases[1].id
    assert len(_alerts(recorder, channel)) == 2


async def test_many_at_once_become_one_wave_card_kept_true(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await _ready(start_bot, ALERT_DIGEST_THRESHOLD="3")
    channel = await _install_and_subscribe(bot, recorder)
    fresh = [u.upn for u in bot.sim.state.users if bot.sim.state.block(u.upn) is None][:5]
    for upn in fresh:
        bot.sim.state.restrict(upn, "ExceedingLimitType=Total")
    result = await _poll(bot)
    assert sorted(result.new) == sorted(fresh)
    posted = _alerts(recorder, channel)
    assert len(posted) == 1  # one wave card, no card per account
    assert texts_of(posted[0].body["attachments"][0]["content"])[0] == (
        "Wave: 5 accounts restricted"
    )
    # The investigations ran: the card in the channel was updated in place.
    assert posted[0].answered is not None
    for _ in range(100):
        shown = recorder.shown_in(channel, posted[0].answered)
        if shown and any(t.startswith("Investigated 5 ·") for t in texts_of(shown)):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(texts_of(shown))
    # An update Teams refused (or a replica that stopped mid-redraw): upkeep catches it up.
    wave = (await bot.runtime.waves.waves.recent(datetime.now(UTC) - timedelta(hours=1)))[0]
    await bot.runtime.waves.waves.shown(wave.id, channel, "an older state")
    before = len(recorder.calls)
    await bot.runtime.waves.catch_up()
    await bot.runtime.cases.idle()
    updates = [c for c in recorder.calls[before:] if c.method == "PUT"]
    assert len(updates) == 1
    await bot.runtime.waves.catch_up()
    await bot.runtime.cases.idle()
    assert len([c for c in recorder.calls[before:] if c.method == "PUT"]) == 1  # now current
    # A restriction of the same hour joins the wave: no card of its own.
    later = next(u.upn for u in bot.sim.state.users if bot.sim.state.block(u.upn) is None)
    bot.sim.state.restrict(later, "ExceedingLimitType=Total")
    await _poll(bot)
    assert len(_alerts(recorder, channel)) == 1
    for _ in range(100):
        shown = recorder.shown_in(channel, posted[0].answered)
        if shown and texts_of(shown)[0] == "Wave: 6 accounts restricted":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(texts_of(shown))


async def test_429_with_retry_after_is_honoured(start_bot: Any, recorder: Recorder) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder)
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External")
    await bot.runtime.watcher.poll_once()
    recorder.failures.append((429, {"Retry-After": "1"}, "TooManyRequests"))
    before = len(recorder.calls)
    assert await bot.runtime.delivery.deliver_pending() == 1
    tries = [
        c
        for c in recorder.calls[before:]
        if c.method == "POST" and c.path.startswith(f"/v3/conversations/{channel}/activities")
    ]
    assert len(tries) == 2
    assert len(_alerts(recorder, channel)) == 2  # the refused try, then the one that landed


async def test_403_marks_the_subscription_inactive(start_bot: Any, recorder: Recorder) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder)
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External")
    await bot.runtime.watcher.poll_once()
    recorder.failures.append((403, {}, "MessageWritesBlocked"))
    assert await bot.runtime.delivery.deliver_pending() == 0
    assert await bot.runtime.conversations.subscriptions() == []
    conversation = await bot.runtime.conversations.get(channel)
    assert conversation is not None
    assert conversation.active is False


async def test_a_failed_send_stays_queued_until_it_lands(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder)
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External")
    await bot.runtime.watcher.poll_once()
    recorder.failures.extend([(400, {}, "BadSyntax")])
    assert await bot.runtime.delivery.deliver_pending() == 0
    assert await bot.runtime.delivery.deliver_pending() == 1
    assert texts_of(_alerts(recorder, channel)[-1].body["attachments"][0]["content"])[0] == (
        "Megan Bowen"
    )


async def test_a_failed_digest_stays_queued_until_it_lands(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await _ready(start_bot, ALERT_DIGEST_THRESHOLD="2")
    channel = await _install_and_subscribe(bot, recorder)
    fresh = [u.upn for u in bot.sim.state.users if bot.sim.state.block(u.upn) is None][:3]
    for upn in fresh:
        bot.sim.state.restrict(upn, "ExceedingLimitType=Total")
    recorder.failures.append((400, {}, "BadSyntax"))  # not retryable within the round
    await _poll(bot)
    conversations = bot.runtime.conversations
    assert len(await conversations.pending_digests()) == 1
    assert await bot.runtime.delivery.deliver_pending() == 1
    assert await conversations.pending_digests() == []
    assert await bot.runtime.delivery.deliver_pending() == 0  # delivered once, not again
    digests = _alerts(recorder, channel)
    assert len(digests) == 2  # the refused try, then the one that landed
    assert texts_of(digests[-1].body["attachments"][0]["content"])[0] == (
        "Wave: 3 accounts restricted"
    )


async def test_restart_does_not_alert_twice(
    start_bot: Any, recorder: Recorder, tmp_path: Any
) -> None:
    tenant = SimulatedTenant(load_scenario("contoso"), tls=True, workdir=tmp_path / "tls")
    tenant.state.app.secret = "restart-test-secret"
    await tenant.start()
    try:
        shared = {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shared.db",
            "TENANT_ID": tenant.state.tenant_id,
            "CLIENT_ID": tenant.state.app.client_id,
            "CLIENT_SECRET": "restart-test-secret",
            "HOST": "127.0.0.1",
            "AUTHORITY_URL": tenant.authority_url,
            "GRAPH_BASE_URL": tenant.graph_url,
            "EXCHANGE_BASE_URL": tenant.exchange_url,
            "SSL_CERT_FILE": str(tenant.ca_file),
        }
        first = await _ready(start_bot, **shared)
        channel = await _install_and_subscribe(first, recorder)
        tenant.state.restrict(MEGAN, "ExceedingLimitType=External")
        await _poll(first)
        assert len(_alerts(recorder, channel)) == 1
        await first.client.aclose()
        await first.server.close()
        second = await _ready(start_bot, **shared)
        result = await _poll(second)
        assert (result.new, result.re_restricted, result.gone) == ([], [], [])
        assert len(_alerts(recorder, channel)) == 1
    finally:
        await tenant.stop()


async def test_uninstall_removes_the_subscription(start_bot: Any, recorder: Recorder) -> None:
    bot = await _ready(start_bot)
    channel = await _install_and_subscribe(bot, recorder, scope="groupChat")
    assert [c.id for c in await bot.runtime.conversations.subscriptions()] == [channel]
    remove = activity("", service_url=recorder.url, scope="groupChat")
    remove.update(type="installationUpdate", action="remove")
    remove.pop("text")
    await bot.post(remove)
    assert await bot.runtime.conversations.subscriptions() == []


async def test_alerts_asked_for_in_dutch_come_in_dutch(start_bot: Any, recorder: Recorder) -> None:
    # "meldingen aan" typed in an English Teams client: the alerts, and their redraws, are
    # Dutch, as the admin asked.
    bot = await _ready(start_bot)
    install = activity("", service_url=recorder.url, scope="channel")
    install.update(type="installationUpdate", action="add")
    install.pop("text")
    assert (await bot.post(install)).status_code in (200, 201)
    await bot.post(activity("meldingen aan", service_url=recorder.url, scope="channel"))
    channel: str = install["conversation"]["id"]
    recorder.calls.clear()
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External;ExternalRecipientCountToday=637")
    await _poll(bot)
    posted = _alerts(recorder, channel)
    assert len(posted) == 1
    alert = texts_of(posted[0].body["attachments"][0]["content"])
    assert "Onderzoek" in alert
    redraws = [c for c in recorder.calls if c.method == "PUT"]
    assert all("Onderzoek" in texts_of(c.body["attachments"][0]["content"]) for c in redraws)
