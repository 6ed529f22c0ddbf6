"""Every copy of every case card tells the truth: real bot and tenant processes, two copies of a
case card (a 1:1 chat and a channel), and every transition must reach both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Recorder, actions_of, texts_of
from tests.replicas import (
    Processes,
    copies_of,
    create_database,
    current,
    data_of,
    drop_database,
    press,
    sim_control,
)

pytestmark = pytest.mark.postgres
JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
ZOE = "zoe.angstrom@contoso.onmicrosoft.com"
ALEX = ("29:alex", "00000000-0000-0000-0000-0000000000a1")
MEGAN = ("29:megan", "00000000-0000-0000-0000-0000000000b2")


@pytest.fixture
async def database() -> AsyncIterator[str]:
    url = await create_database()
    yield url
    await drop_database(url)


@pytest.fixture
def processes(tmp_path: Path) -> Any:
    procs = Processes(tmp_path)
    procs.start_tenant()
    yield procs
    procs.stop_all()


async def test_every_transition_reaches_every_copy(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    bot, _ = processes.start_bot(
        database,
        "bot",
        APPROVER_IDS=f"{ALEX[1]},{MEGAN[1]}",
        REQUIRE_SECOND_APPROVER="true",
        ALERT_POLL_SECONDS="1",
    )
    joost = await copies_of(bot, recorder, JOOST)
    await joost.all_show("Inbox rules")  # the investigation finished: both copies
    cards = await joost.all_show("Investigated — clean-up not started")

    # A step starts (running) and finishes (done).
    await sim_control(
        processes,
        "/_sim/faults",
        {"route": "users.revokeSignInSessions", "kind": "latency", "seconds": 3},
    )
    await press(
        bot,
        "run_step",
        data_of(await current(bot, recorder, cards[0]), "run_step", "revoke_sessions"),
        recorder.url,
    )
    await joost.all_show("⏳ 2. Revoke sign-in sessions — running…")
    cards = await joost.all_show("✅ 2. Revoke sign-in sessions — done")

    # A step fails.
    await sim_control(
        processes,
        "/_sim/faults",
        {"route": "Get-Mailbox", "kind": "hang", "times": -1, "seconds": 0},
    )
    await press(
        bot,
        "run_step",
        data_of(await current(bot, recorder, cards[0]), "run_step", "remove_forwarding"),
        recorder.url,
    )
    cards = await joost.all_show("❌ 3. Remove mailbox forwarding — failed")
    await sim_control(processes, "/_sim/faults")

    # A step is skipped; the rest are run; the case becomes ready.
    skip = dict(
        data_of(await current(bot, recorder, cards[0]), "skip_step"),
        step="remove_forwarding",
        reason="archive service",
    )
    await press(bot, "skip_step", skip, recorder.url)
    cards = await joost.all_show("⏭ 3. Remove mailbox forwarding — skipped")
    await press(
        bot,
        "run_recommended",
        data_of(await current(bot, recorder, cards[0]), "run_recommended"),
        recorder.url,
    )
    cards = await joost.all_show("Ready to release")

    # Release requested (four-eyes): every copy shows the request and Approve.
    await press(
        bot, "release", data_of(await current(bot, recorder, cards[0]), "release"), recorder.url
    )
    personal, channel = await joost.all_show("Alex asked just now to release")
    # Alex's 1:1 copy is drawn for him, the requester: it waits for someone else. The
    # channel's copy is everyone's, without buttons; Teams fetches each member's own view.
    assert "You asked for this release: a second approver must approve it." in texts_of(personal)
    assert {a["verb"] for a in actions_of(channel)} == {"refresh_case"}
    refresh = channel["refresh"]["action"]["data"]
    megans = await press(bot, "refresh_case", refresh, recorder.url, user=MEGAN)
    assert "approve_release" in {a["verb"] for a in actions_of(megans)}

    # Approved by a second admin: released by her, then verified.
    await press(
        bot, "approve_release", data_of(megans, "approve_release"), recorder.url, user=MEGAN
    )
    await joost.all_show("Released and verified")
    assert all(
        not {"release", "approve_release", "run_step"} & {a["verb"] for a in actions_of(c)}
        for c in joost.cards()
    )

    # Restricted again: the open case of another sender closes on every copy.
    zoe = await copies_of(bot, recorder, ZOE)
    await zoe.all_show("Inbox rules")
    await sim_control(processes, "/_sim/restrict", {"upn": ZOE, "again": True})
    await zoe.all_show("zoe.angstrom@contoso.onmicrosoft.com · Restricted again")
