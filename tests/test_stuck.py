"""No case gets stuck: real processes killed while Exchange is releasing the sender, stopped
during "Run recommended", or losing their database connection at the very write of an
outcome (a trigger calls pg_terminate_backend on the writing session, once)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.model import Case, CaseState
from bot.cases.outcomes import StepName, StepStatus
from bot.errors import ProblemKind
from bot.store.audit import AuditTrail
from bot.store.cases import CaseStore
from bot.store.db import open_engine
from tests.helpers import Recorder, actions_of, texts_of
from tests.replicas import (
    Copies,
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


async def _calls(processes: Processes, operation: str) -> list[int]:
    """The statuses of the calls the tenant answered for `operation` (an Exchange cmdlet, or a
    part of a Graph path)."""
    async with processes.tenant_client() as client:
        log = (await client.get(f"{processes.tenant['SIM_URL']}/_sim/requests")).json()
    return [r["status"] for r in log if r["operation"] == operation or operation in r["path"]]


async def _removals(processes: Processes) -> list[int]:
    """The statuses of the Remove-BlockedSenderAddress calls the tenant answered."""
    return await _calls(processes, "Remove-BlockedSenderAddress")


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


# ---- a live replica: its database connection lost at the outcome's write; SIGTERM ---------

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


@dataclass
class Pair:
    """Two replicas on one database, Joost's case investigated, shown in two conversations of
    the first (`url`)."""

    url: str
    proc: subprocess.Popen[bytes]
    engine: AsyncEngine
    store: CaseStore
    copies: Copies
    card: dict[str, Any]
    case_id: str

    async def until(self, check: Callable[[Case], bool], seconds: float = 20) -> Case:
        """The case once `check` holds for it."""

        async def now() -> Case | None:
            case = await self.store.get(self.case_id)
            return case if case is not None and check(case) else None

        found: Case = await wait_for(now, seconds=seconds)
        return found


@asynccontextmanager
async def _two_replicas(
    processes: Processes, database: str, recorder: Recorder
) -> AsyncIterator[Pair]:
    url, proc = processes.start_bot(database, "a")
    processes.start_bot(database, "b")
    engine = open_engine(database)
    try:
        copies = await copies_of(url, recorder, JOOST)
        cards = await copies.all_show("Inbox rules")
        store = CaseStore(engine)
        case = await store.open_for(JOOST)
        assert case is not None
        yield Pair(url, proc, engine, store, copies, cards[0], case.id)
    finally:
        await engine.dispose()


async def test_a_step_whose_outcome_write_loses_its_connection_still_ends_on_the_live_replica(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    async with _two_replicas(processes, database, recorder) as pair:
        engine = pair.engine
        await _terminate_when(
            engine, "case_steps", "OLD.status = 'running' AND NEW.status <> 'running'", "step"
        )
        card = await current(pair.url, recorder, pair.card)
        pressed = time.monotonic()
        await press(
            pair.url, "run_step", data_of(card, "run_step", "revoke_sessions"), recorder.url
        )
        await pair.until(lambda c: c.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE)
        assert time.monotonic() - pressed < 5  # the next try, not a lease or upkeep later
        assert await _fired(engine, "step")  # terminated at the outcome's write, once
        events = await AuditTrail(engine).events(case_id=pair.case_id)
        finished = [e for e in events if e.action == "step_finished:revoke_sessions"]
        assert [(e.actor_name, e.result) for e in finished] == [("Alex", "done")]
        assert not any(e.action.startswith("step_interrupted") for e in events)
        assert len(await _calls(processes, "revokeSignInSessions")) == 1
        await pair.copies.all_show("✅")


async def test_a_release_whose_outcome_write_loses_its_connection_is_the_admins_release(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    async with _two_replicas(processes, database, recorder) as pair:
        engine = pair.engine
        await _terminate_when(
            engine, "cases", "OLD.state = 'releasing' AND NEW.state <> 'releasing'", "release"
        )
        card = await current(pair.url, recorder, pair.card)
        override = dict(data_of(card, "release"), override_reason="confirmed by phone")
        pressed = time.monotonic()
        answered = await press(pair.url, "release", override, recorder.url)
        assert "Releasing" in " ".join(texts_of(answered))
        await pair.until(lambda c: c.state is CaseState.VERIFIED)
        assert time.monotonic() - pressed < 5
        assert await _fired(engine, "release")
        events = await AuditTrail(engine).events(case_id=pair.case_id)
        releases = [(e.actor_name, e.result) for e in events if e.action == "release"]
        assert releases == [("Alex", "done")]
        assert len(await _removals(processes)) == 1
        await pair.copies.all_show("Released and verified")


async def test_sigterm_during_run_recommended_starts_nothing_new_and_the_other_replica_redraws(
    processes: Processes, database: str, recorder: Recorder
) -> None:
    async with _two_replicas(processes, database, recorder) as pair:
        await sim_control(
            processes,
            "/_sim/faults",
            {"route": "users.revokeSignInSessions", "kind": "latency", "seconds": 4},
        )
        card = await current(pair.url, recorder, pair.card)
        await press(pair.url, "run_recommended", data_of(card, "run_recommended"), recorder.url)
        await pair.until(lambda c: c.step(StepName.REVOKE_SESSIONS).status is StepStatus.RUNNING)
        pair.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(pair.proc.wait, 20) == 0
        stopped_at = time.monotonic()
        parked = await pair.store.get(pair.case_id)
        assert parked is not None
        assert parked.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
        assert parked.step(StepName.REMOVE_FORWARDING).status is StepStatus.NOT_RUN
        # The other replica learns that a runner left and redraws the copies at once.
        await pair.copies.all_show("2. Revoke sign-in sessions — interrupted", seconds=15)
        assert time.monotonic() - stopped_at < 10  # not after the 30 s catch-up
        await asyncio.sleep(4)  # the held revoke lands; nothing after it may start
        assert await _calls(processes, "Set-Mailbox") == []
