"""Two bot processes on one PostgreSQL database behave like one; kill -9 and SIGTERM are safe."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cases.model import CaseState
from bot.cases.outcomes import StepName, StepStatus
from bot.store.audit import AuditTrail
from bot.store.cases import CaseStore
from bot.store.db import open_engine
from tests.helpers import Recorder, actions_of, texts_of
from tests.replicas import Processes, create_database, drop_database, press, wait_for

pytestmark = pytest.mark.postgres
JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"


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


def _data(card: dict[str, Any], verb: str, step: str | None = None) -> dict[str, Any]:
    for action in actions_of(card):
        if action["verb"] == verb and (step is None or action["data"].get("step") == step):
            data: dict[str, Any] = action["data"]
            return data
    raise AssertionError(f"no {verb} in {texts_of(card)}")


async def _requests(processes: Processes, operation: str) -> list[dict[str, Any]]:
    async with processes.tenant_client() as client:
        log = (await client.get(f"{processes.tenant['SIM_URL']}/_sim/requests")).json()
    return [r for r in log if r["operation"] == operation]


async def test_twenty_release_clicks_on_two_replicas_release_once(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    first, _ = processes.start_bot(database, "a")
    second, _ = processes.start_bot(database, "b")
    card = await press(first, "open_case", {"upn": JOOST}, recorder.url)
    engine = open_engine(database)
    store = CaseStore(engine)
    try:
        case = await wait_for(lambda: _with_evidence(store))
        card = await press(
            second, "refresh_case", {"case": case.id, "version": case.version}, recorder.url
        )
        override = dict(_data(card, "release"), override_reason="confirmed with the user")
        cards = await asyncio.gather(
            *[
                press(first if i % 2 else second, "release", override, recorder.url)
                for i in range(20)
            ]
        )
        final = await wait_for(lambda: _closed(store, case.id))
        assert len(await _requests(processes, "Remove-BlockedSenderAddress")) == 1
        events = await AuditTrail(engine).events(case_id=case.id)
        assert [e.action for e in events].count("release") == 1
        releasing = "Releasing: BlockWatch is asking Exchange Online to lift the block."
        released = sum(releasing in " ".join(texts_of(c)) for c in cards)
        assert released == 1
        assert final.state is CaseState.VERIFIED
        views = [
            await press(
                url, "refresh_case", {"case": case.id, "version": final.version}, recorder.url
            )
            for url in (first, second)
        ]
        assert texts_of(views[0])[:2] == texts_of(views[1])[:2]
        assert "Released and verified" in texts_of(views[0])[1]
    finally:
        await engine.dispose()


async def _with_evidence(store: CaseStore) -> Any:
    case = await store.open_for(JOOST)
    return case if case is not None and case.evidence is not None else None


async def _closed(store: CaseStore, case_id: str) -> Any:
    case = await store.get(case_id)
    return case if case is not None and case.closed_at is not None else None


async def _step_status(store: CaseStore, case_id: str, status: StepStatus) -> Any:
    case = await store.get(case_id)
    if case is not None and case.step(StepName.REVOKE_SESSIONS).status is status:
        return case
    return None


async def _hang_revoke(processes: Processes) -> None:
    async with processes.tenant_client() as client:
        await client.post(
            f"{processes.tenant['SIM_URL']}/_sim/faults",
            json={"route": "users.revokeSignInSessions", "kind": "hang", "seconds": 120},
        )


async def _start_hanging_step(
    processes: Processes, url: str, store: CaseStore, recorder: Recorder
) -> Any:
    """Open Joost's case and start 'revoke sessions', which the tenant then holds open."""
    await press(url, "open_case", {"upn": JOOST}, recorder.url)
    case = await wait_for(lambda: _with_evidence(store))
    await _hang_revoke(processes)
    card = await press(
        url, "refresh_case", {"case": case.id, "version": case.version}, recorder.url
    )
    await press(url, "run_step", _data(card, "run_step", "revoke_sessions"), recorder.url)
    await wait_for(lambda: _step_status(store, case.id, StepStatus.RUNNING))
    return case


async def test_kill_9_during_a_step_then_restart(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    url, proc = processes.start_bot(database, "victim")
    engine = open_engine(database)
    store = CaseStore(engine)
    try:
        case = await _start_hanging_step(processes, url, store, recorder)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        survivor, _ = processes.start_bot(database, "survivor")
        interrupted = await wait_for(lambda: _step_status(store, case.id, StepStatus.INTERRUPTED))

        async def audited() -> list[str] | None:  # the audit row follows the state change
            actions = [e.action for e in await AuditTrail(engine).events(case_id=case.id)]
            return actions if "step_interrupted:revoke_sessions" in actions else None

        actions = await wait_for(audited)
        assert "step_started:revoke_sessions" in actions
        card = await press(
            survivor,
            "refresh_case",
            {"case": case.id, "version": interrupted.version},
            recorder.url,
        )
        assert "⚠ 2. Revoke sign-in sessions — interrupted" in texts_of(card)
        retry = next(a for a in actions_of(card) if a["data"].get("step") == "revoke_sessions")
        assert retry["title"] == "Retry"
        async with processes.tenant_client() as client:
            await client.delete(f"{processes.tenant['SIM_URL']}/_sim/faults")
        await press(survivor, "run_step", retry["data"], recorder.url)
        done = await wait_for(lambda: _step_status(store, case.id, StepStatus.DONE))
        assert done.step(StepName.REVOKE_SESSIONS).attempt == 2
    finally:
        await engine.dispose()


async def test_sigterm_parks_the_running_step_and_exits_cleanly(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    url, proc = processes.start_bot(database, "stopping")
    engine = open_engine(database)
    store = CaseStore(engine)
    try:
        case = await _start_hanging_step(processes, url, store, recorder)
        proc.send_signal(signal.SIGTERM)
        # waited for off the event loop: the Recorder (the bot's Teams connector) must keep
        # answering while the bot parks the step and says so
        assert await asyncio.to_thread(proc.wait, 20) == 0
        parked = await store.get(case.id)
        assert parked is not None
        assert parked.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
        actions = [e.action for e in await AuditTrail(engine).events(case_id=case.id)]
        assert "step_interrupted:revoke_sessions" in actions
    finally:
        await engine.dispose()


async def test_two_replicas_one_poller_one_alert_per_subscription(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    import sqlalchemy as sa

    from bot.store.schema import leases, watcher_state
    from tests.helpers import activity

    first, _ = processes.start_bot(database, "a", ALERT_POLL_SECONDS="1")
    second, _ = processes.start_bot(database, "b", ALERT_POLL_SECONDS="1")
    engine = open_engine(database)
    try:

        async def baseline() -> Any:
            async with engine.connect() as conn:
                return (await conn.execute(sa.select(watcher_state))).first()

        await wait_for(baseline)
        async with httpx.AsyncClient(timeout=30) as client:
            for url in (first, second):
                on = activity("alerts on", service_url=recorder.url, scope="channel")
                assert (await client.post(f"{url}/api/messages", json=on)).status_code == 201
        recorder.calls.clear()
        async with processes.tenant_client() as client:
            restricted = await client.post(
                f"{processes.tenant['SIM_URL']}/_sim/restrict",
                json={"upn": "megan.bowen@contoso.onmicrosoft.com"},
            )
            assert restricted.status_code == 200

        def alerts() -> list[Any]:
            return [
                c
                for c in recorder.calls
                if c.method == "POST"
                and c.body.get("attachments")
                and texts_of(c.body["attachments"][0]["content"])[0] == "Megan Bowen"
            ]

        async def arrived() -> bool:
            return bool(alerts())

        await wait_for(arrived)
        await asyncio.sleep(3)  # three more poll periods: nobody posts it again
        assert len(alerts()) == 1
        async with engine.connect() as conn:
            holders = (
                (
                    await conn.execute(
                        sa.select(leases.c.holder).where(leases.c.name == "alert-poller")
                    )
                )
                .scalars()
                .all()
            )
        assert len(holders) == 1
    finally:
        await engine.dispose()


async def test_open_clicked_at_once_on_two_replicas_posts_one_case_card(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    """Two admins (or one double-click) press Open on the same sender in one conversation at
    the same moment, on two replicas: exactly one case card is posted there."""
    first, _ = processes.start_bot(database, "a")
    second, _ = processes.start_bot(database, "b")
    await asyncio.gather(
        *[
            press(first if i % 2 else second, "open_case", {"upn": JOOST}, recorder.url)
            for i in range(10)
        ]
    )
    await asyncio.sleep(1.0)  # a late post would arrive by now
    posted = [
        call
        for call in recorder.calls
        if call.method == "POST" and "/activities" in call.path and call.body.get("attachments")
    ]
    assert len(posted) == 1, [texts_of(c.body["attachments"][0]["content"])[:2] for c in posted]
    assert any(
        JOOST.split("@")[0].split(".")[0].capitalize() in t
        for t in texts_of(posted[0].body["attachments"][0]["content"])
    )
