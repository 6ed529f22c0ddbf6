"""Two replicas on PostgreSQL; the database connection of the replica that ran a step or a
release is terminated at the very moment it records the outcome (a trigger calls
pg_terminate_backend on its own session, once). The live replica records the outcome anyway,
within the lease: the copies say what happened, the audit has the admin's events, and Microsoft
was asked once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.model import CaseState
from bot.cases.outcomes import StepName, StepStatus
from bot.store.audit import AuditTrail
from bot.store.cases import CaseStore
from bot.store.db import open_engine
from tests.helpers import Recorder, texts_of
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
LEASE = 1.0  # RUNNER_LEASE_SECONDS of tests/replicas.py

# Once (a sequence, which a rolled-back transaction does not undo), the session writing the
# watched change is terminated.
_TERMINATE_ONCE = """
CREATE FUNCTION terminate_once() RETURNS trigger AS $$
BEGIN
  IF {condition} AND nextval(TG_ARGV[0]) = 1 THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""


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


async def _terminate_when(engine: AsyncEngine, table: str, condition: str, what: str) -> None:
    """Arm a one-time termination of the session that makes `condition` true on `table`."""
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SEQUENCE fault_{what}"))
        await conn.execute(sa.text(_TERMINATE_ONCE.replace("{condition}", condition)))
        await conn.execute(
            sa.text(
                f"CREATE TRIGGER terminate_{what} BEFORE UPDATE ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION terminate_once('fault_{what}')"
            )
        )


async def _fired(engine: AsyncEngine, what: str) -> bool:
    """Whether the armed termination happened."""
    async with engine.connect() as conn:
        called = await conn.execute(sa.text(f"SELECT is_called FROM fault_{what}"))  # noqa: S608
        return bool(called.scalar())


async def _requests(processes: Processes, fragment: str) -> int:
    async with processes.tenant_client() as client:
        log = (await client.get(f"{processes.tenant['SIM_URL']}/_sim/requests")).json()
    return sum(fragment in r["path"] or fragment == r["operation"] for r in log)


async def test_a_step_whose_outcome_write_loses_its_connection_still_ends_on_the_live_replica(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    first, _ = processes.start_bot(database, "a")
    processes.start_bot(database, "b")
    engine = open_engine(database)
    try:
        copies = await copies_of(first, recorder, JOOST)
        cards = await copies.all_show("Inbox rules")
        await _terminate_when(
            engine,
            "case_steps",
            "OLD.status = 'running' AND NEW.status <> 'running'",
            "step",
        )
        card = await current(first, recorder, cards[0])
        pressed = time.monotonic()
        await press(first, "run_step", data_of(card, "run_step", "revoke_sessions"), recorder.url)
        store = CaseStore(engine)
        case = await store.open_for(JOOST)
        assert case is not None

        async def done() -> Any:
            fresh = await store.get(case.id)
            step = fresh.step(StepName.REVOKE_SESSIONS) if fresh else None
            return fresh if step is not None and step.status is StepStatus.DONE else None

        await wait_for(done, seconds=LEASE * 3 + 10)
        assert time.monotonic() - pressed < 5  # the next try, not a lease or upkeep later
        assert await _fired(engine, "step")  # terminated at the outcome's write, once
        events = await AuditTrail(engine).events(case_id=case.id)
        finished = [e for e in events if e.action == "step_finished:revoke_sessions"]
        assert [(e.actor_name, e.result) for e in finished] == [("Alex", "done")]
        assert not any(e.action.startswith("step_interrupted") for e in events)
        assert await _requests(processes, "revokeSignInSessions") == 1
        await copies.all_show("✅")
    finally:
        await engine.dispose()


async def test_a_release_whose_outcome_write_loses_its_connection_is_the_admins_release(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    first, _ = processes.start_bot(database, "a")
    processes.start_bot(database, "b")
    engine = open_engine(database)
    try:
        copies = await copies_of(first, recorder, JOOST)
        cards = await copies.all_show("Inbox rules")
        await _terminate_when(
            engine, "cases", "OLD.state = 'releasing' AND NEW.state <> 'releasing'", "release"
        )
        card = await current(first, recorder, cards[0])
        override = dict(data_of(card, "release"), override_reason="confirmed by phone")
        pressed = time.monotonic()
        answered = await press(first, "release", override, recorder.url)
        assert "Releasing" in " ".join(texts_of(answered))
        store = CaseStore(engine)
        case = await store.open_for(JOOST)
        assert case is not None

        async def closed() -> Any:
            fresh = await store.get(case.id)
            return fresh if fresh is not None and fresh.state is CaseState.VERIFIED else None

        await wait_for(closed, seconds=LEASE * 3 + 10)
        assert time.monotonic() - pressed < 5
        assert await _fired(engine, "release")
        events = await AuditTrail(engine).events(case_id=case.id)
        releases = [(e.actor_name, e.result) for e in events if e.action == "release"]
        assert releases == [("Alex", "done")]
        assert await _requests(processes, "Remove-BlockedSenderAddress") == 1
        await copies.all_show("Released and verified")
    finally:
        await engine.dispose()


async def test_sigterm_during_run_recommended_starts_nothing_new_and_the_other_replica_redraws(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    stopping, proc = processes.start_bot(database, "a")
    processes.start_bot(database, "b")
    engine = open_engine(database)
    try:
        copies = await copies_of(stopping, recorder, JOOST)
        cards = await copies.all_show("Inbox rules")
        await sim_control(
            processes,
            "/_sim/faults",
            {"route": "users.revokeSignInSessions", "kind": "latency", "seconds": 4},
        )
        card = await current(stopping, recorder, cards[0])
        await press(stopping, "run_recommended", data_of(card, "run_recommended"), recorder.url)
        store = CaseStore(engine)
        case = await store.open_for(JOOST)
        assert case is not None

        async def step_two_running() -> Any:
            fresh = await store.get(case.id)
            running = fresh and fresh.step(StepName.REVOKE_SESSIONS).status is StepStatus.RUNNING
            return fresh if running else None

        await wait_for(step_two_running)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
        stopped_at = time.monotonic()
        parked = await store.get(case.id)
        assert parked is not None
        assert parked.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
        assert parked.step(StepName.REMOVE_FORWARDING).status is StepStatus.NOT_RUN
        # The other replica learns that a runner left and redraws the copies at once.
        await copies.all_show("2. Revoke sign-in sessions — interrupted", seconds=15)
        assert time.monotonic() - stopped_at < 10  # not after the 30 s catch-up
        await asyncio.sleep(4)  # the held revoke lands; nothing after it may start
        assert await _requests(processes, "Set-Mailbox") == 0
    finally:
        await engine.dispose()
