"""No case gets stuck: real processes, killed while Exchange is releasing the sender."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.cases.model import CaseState
from bot.errors import ProblemKind
from bot.store.audit import AuditTrail
from bot.store.cases import CaseStore
from bot.store.db import open_engine
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
    wait_for,
)

pytestmark = pytest.mark.postgres
JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
LEASE = (
    1.0  # RUNNER_LEASE_SECONDS of tests/replicas.py; upkeep runs every LEASE / 3, at least 0.5 s
)


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


async def _removals(processes: Processes) -> list[int]:
    """The statuses of the Remove-BlockedSenderAddress calls the tenant answered."""
    async with processes.tenant_client() as client:
        log = (await client.get(f"{processes.tenant['SIM_URL']}/_sim/requests")).json()
    return [r["status"] for r in log if r["operation"] == "Remove-BlockedSenderAddress"]


@pytest.mark.parametrize("exchange_finished", [True, False], ids=["removed", "still-listed"])
async def test_kill_9_during_the_release_then_restart(
    processes: Processes, database: str, recorder: Recorder, exchange_finished: bool
) -> None:
    first, proc = processes.start_bot(database, "first")
    copies = await copies_of(first, recorder, JOOST)
    cards = await copies.all_show("Inbox rules")
    # Exchange takes 3 s; "latency" then removes the sender, "hang" never does (504).
    kind = "latency" if exchange_finished else "hang"
    await sim_control(
        processes,
        "/_sim/faults",
        {"route": "Remove-BlockedSenderAddress", "kind": kind, "seconds": 3},
    )
    card = await current(first, recorder, cards[0])
    override = dict(data_of(card, "release"), override_reason="confirmed by phone")
    answered = await press(first, "release", override, recorder.url)
    assert "Releasing: BlockWatch is asking Exchange Online" in " ".join(texts_of(answered))
    engine = open_engine(database)
    store = CaseStore(engine)
    try:
        case = await store.open_for(JOOST)
        assert case is not None
        assert case.state is CaseState.RELEASING
        await asyncio.sleep(0.5)  # the release is under way: Exchange is taking its 3 s
        proc.kill()  # kill -9 while Exchange is answering
        proc.wait(timeout=10)
        await asyncio.sleep(3.5)  # Exchange finishes (or gives up) without anyone listening
        assert copies.all_showed("Releasing…")
        case = await store.get(case.id)
        assert case is not None
        assert case.state is CaseState.RELEASING  # stuck, as the dead process left it
        second, _ = processes.start_bot(database, "second")
        started = time.monotonic()

        async def settled() -> Any:
            fresh = await store.get(case.id)
            return fresh if fresh is not None and fresh.state is not CaseState.RELEASING else None

        final = await wait_for(settled, seconds=30)
        assert time.monotonic() - started < LEASE + 0.5 + 5  # lease + one upkeep round + slack
        wanted = "release_verified" if exchange_finished else "release_interrupted"

        async def audited() -> Any:
            events = await AuditTrail(engine).events(case_id=case.id)
            return [e for e in events if e.action == wanted]

        (event,) = await wait_for(audited)
        if exchange_finished:
            # Exchange released the sender: that is the admin's release, whose answer was lost
            # with the process; the follow-up then verifies it.
            assert final.state in (CaseState.RELEASED, CaseState.VERIFIED)
            events = await AuditTrail(engine).events(case_id=case.id)
            (release,) = [e for e in events if e.action == "release"]
            assert (release.actor_name, release.result) == ("Alex", "done")
            assert release.detail == (
                "the process releasing it stopped or lost Exchange's answer; "
                "Exchange no longer lists the sender"
            )
            await copies.all_show("Released and verified")
            assert await _removals(processes) == [200]
            return
        assert final.state is CaseState.REMEDIATING
        assert final.release_problem is not None
        assert final.release_problem.kind is ProblemKind.INTERRUPTED
        assert event.result == "interrupted"
        cards = await copies.all_show("The last release was interrupted")
        retry = next(a for a in actions_of(cards[0]) if a.get("title") == "Retry release")
        assert retry["isEnabled"] is False  # the checklist is not done: an override again
        card = await current(second, recorder, cards[0])
        again = dict(data_of(card, "release"), override_reason="retry after the restart")
        await press(second, "release", again, recorder.url)
        await copies.all_show("Released and verified")
        assert await _removals(processes) == [504, 200]  # asked once more, because still listed
    finally:
        await engine.dispose()
