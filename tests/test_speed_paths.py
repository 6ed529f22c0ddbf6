"""What makes BlockWatch faster than the stack it stands on, as behaviour (the speed itself is
measured by ./scripts/bench, never by timed tests): "who is blocked" answers from a fresh view
and Refresh reads live; replies reuse their connections to the connector; a turn writes the
conversation reference only when it changed."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.alerts.watcher import POLLER
from bot.chat.pacing import TeamsRateLimits
from bot.store.leases import Leases
from tests.helpers import ROOT, Recorder, actions_of, activity, invoke, texts_of

ALEX = "00000000-0000-0000-0000-0000000000a1"
MEGAN = "megan.bowen@contoso.onmicrosoft.com"


async def _list(bot: Any, recorder: Recorder) -> list[str]:
    assert (await bot.post(activity("who is blocked", service_url=recorder.url))).status_code == 201
    return texts_of(recorder.cards()[-1])


async def test_who_is_blocked_answers_from_the_fresh_view_and_refresh_reads_live(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(LIST_FRESH_SECONDS="300")
    first = await _list(bot, recorder)
    assert first[1] == "3 users are restricted from sending email."
    as_of = first[-1]
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External;ExternalRecipientCountToday=637")
    again = await _list(bot, recorder)
    assert again[1] == first[1]  # the view of a moment ago …
    assert again[-1] == as_of  # … and the card says as of when
    refresh = next(a for a in actions_of(recorder.cards()[-1]) if a["title"] == "Refresh")
    assert refresh["data"]["refresh"] is True
    answer = await bot.post(invoke("list_page", refresh["data"], service_url=recorder.url))
    lines = texts_of(answer.json()["value"])
    assert lines[1] == "4 users are restricted from sending email."  # read live
    assert "Megan Bowen" in lines
    assert (await _list(bot, recorder))[1] == lines[1]  # the view is the live read now
    page = await bot.post(invoke("list_page", {"page": 1}, service_url=recorder.url))
    assert texts_of(page.json()["value"])[1] == lines[1]


async def test_with_no_freshness_every_list_reads_live(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot(LIST_FRESH_SECONDS="0")
    assert (await _list(bot, recorder))[1] == "3 users are restricted from sending email."
    bot.sim.state.restrict(MEGAN, "ExceedingLimitType=External;ExternalRecipientCountToday=637")
    assert (await _list(bot, recorder))[1] == "4 users are restricted from sending email."


async def test_many_replies_reuse_a_few_connections(start_bot: Any, recorder: Recorder) -> None:
    bot = await start_bot()
    for n in range(40):
        body = activity("help", service_url=recorder.url, user=f"29:u{n}")
        assert (await bot.post(body)).status_code == 201
    peers = {c.peer for c in recorder.calls}
    assert len(recorder.calls) == 40
    assert len(peers) <= 2  # botbuilder alone opens one connection per reply


async def test_a_turn_writes_the_conversation_only_when_it_changed(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot()
    body = activity("who is blocked", service_url=recorder.url, aad=ALEX)
    await bot.post(body)
    conversation = body["conversation"]["id"]
    first = await bot.runtime.conversations.get(conversation)
    assert first is not None
    await bot.post(activity("who is blocked", service_url=recorder.url, aad=ALEX))
    same = await bot.runtime.conversations.get(conversation)
    assert same == first  # not written again (its updated_at would have moved)
    moved = activity("who is blocked", service_url=recorder.url + "moved/", aad=ALEX)
    await bot.post(moved)
    changed = await bot.runtime.conversations.get(conversation)
    assert changed is not None
    assert changed.address.service_url == recorder.url + "moved/"


async def test_teams_limits_keep_a_margin_and_conversations_do_not_wait_for_each_other() -> None:
    clock = [100.0]
    limits = TeamsRateLimits(clock=lambda: clock[0])
    for _ in range(6):
        await limits.wait("busy")
    waiting = asyncio.ensure_future(limits.wait("busy"))  # the 7th in a second: waits
    await asyncio.sleep(0)
    assert not waiting.done()
    await asyncio.wait_for(limits.wait("other"), 1)  # … but another conversation does not
    clock[0] += 1.2
    await asyncio.wait_for(waiting, 2)
    for n in range(40 - 1):  # with the 7th "busy" message, the bot's 40 in this window
        await limits.wait(f"c{n}")
    over = asyncio.ensure_future(limits.wait("c-last"))  # the bot's 41st in 1.1 s waits
    await asyncio.sleep(0)
    assert not over.done()
    clock[0] += 1.2
    await asyncio.wait_for(over, 2)


async def test_a_graceful_stop_hands_the_alert_poller_on(start_bot: Any) -> None:
    bot = await start_bot(ALERT_POLL_SECONDS="3600")
    leases = Leases(bot.runtime.engine)
    for _ in range(100):
        if await leases.holders(POLLER):
            break
        await asyncio.sleep(0.05)
    assert await leases.holders(POLLER)  # this replica polls …
    await bot.server.close()  # … until it stops, and then nobody holds the lease
    assert await leases.holders(POLLER) == set()
    await bot.runtime.engine.dispose()  # the connection this check opened


def test_the_bench_counts_sequential_waves_and_its_script_is_there() -> None:
    from bench.run import waves

    assert waves([]) == 0
    assert waves([0.0, 0.01, 0.02]) == 1
    assert waves([0.0, 0.05, 2.0, 2.01, 4.1]) == 3
    script = ROOT / "scripts" / "bench"
    assert script.stat().st_mode & 0o111  # executable, as the README runs it
    assert "bench.run" in script.read_text()


async def test_the_bots_token_is_fetched_off_the_event_loop_and_kept() -> None:
    import threading
    from types import SimpleNamespace

    from bot.teams.reuse import _BearerPolicy

    loop_thread = threading.get_ident()
    fetched: list[int] = []

    class Credentials:  # Entra ID's token endpoint cannot run here: a stand-in that counts
        microsoft_app_id = "00000000-0000-0000-0000-0000000000b0"

        def get_access_token(self) -> str:
            fetched.append(threading.get_ident())
            return "token-1"

    seen: list[str] = []

    class Next:
        async def send(self, request: Any, **kwargs: Any) -> Any:
            seen.append(request.http_request.headers["Authorization"])
            return SimpleNamespace(http_response=SimpleNamespace(status_code=200))

    policy = _BearerPolicy(Credentials())
    policy.next = Next()
    for _ in range(3):
        request = SimpleNamespace(http_request=SimpleNamespace(headers={}))
        await policy.send(request)
    assert seen == ["Bearer token-1"] * 3
    assert len(fetched) == 1  # kept, not fetched per reply
    assert fetched[0] != loop_thread  # msal and requests block: never on the event loop


async def test_the_names_kept_in_memory_are_bounded(
    start_bot: Any, recorder: Recorder, monkeypatch: Any
) -> None:
    import bot.tenant.senders as senders

    monkeypatch.setattr(senders, "MAX_NAMES", 1)  # three senders: over the bound at once
    bot = await start_bot(LIST_FRESH_SECONDS="0")
    for _ in range(2):  # the second read starts over instead of growing (or failing)
        lines = await _list(bot, recorder)
        assert any(line.startswith("Joost") or "Sanne" in line for line in lines), lines
