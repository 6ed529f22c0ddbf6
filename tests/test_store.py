"""The store on SQLite and PostgreSQL: migrations, compare-and-set, the append-only trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.model import CaseState, Note, RulesUndo, StepDetail, StepName, StepStatus
from bot.errors import Problem, ProblemKind
from bot.store.audit import AuditEvent, AuditTrail, to_csv
from bot.store.cases import CaseStore
from bot.store.db import current_revision, head_revision, migrate, open_engine
from bot.store.schema import audit_events
from tests.conftest import _drop_schema, _postgres_schema
from tests.helpers import run_app

UPN = "joost.vandenbergh@contoso.onmicrosoft.com"


async def _open(store: CaseStore, upn: str = UPN):
    return await store.open_case(
        upn,
        display_name="Joost",
        reason="ExceedingLimitType=External",
        restricted_since=datetime.now(UTC) - timedelta(minutes=5),
    )


async def test_database_is_at_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision() == "0009"
    await migrate(engine)  # idempotent
    assert await current_revision(engine) == "0009"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_empty_and_previous_schema_both_reach_head(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        db, schema = open_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db"), None
    else:
        db, schema = await _postgres_schema()
    try:
        assert await current_revision(db) is None
        await migrate(db, "0001")
        assert await current_revision(db) == "0001"
        now = datetime.now(UTC).replace(microsecond=0)
        row = {  # a case as the first schema held it: its data survives every migration
            "id": "8f1d9c8e-0000-4000-8000-0000000000aa",
            "upn": UPN,
            "display_name": "Joost",
            "state": "remediating",
            "version": 3,
            "reason": "ExceedingLimitType=External",
            "opened_at": now.replace(tzinfo=None) if kind == "sqlite" else now,
            "updated_at": now.replace(tzinfo=None) if kind == "sqlite" else now,
        }
        async with db.begin() as conn:
            columns = ", ".join(row)
            values = ", ".join(f":{k}" for k in row)
            await conn.execute(sa.text(f"INSERT INTO cases ({columns}) VALUES ({values})"), row)  # noqa: S608
        await migrate(db)
        assert await current_revision(db) == "0009"
        case = await CaseStore(db).get(row["id"])
        assert case is not None
        assert (case.upn, case.state, case.version, case.opened_at) == (
            UPN,
            CaseState.REMEDIATING,
            3,
            now,
        )
        async with db.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert {"conversations", "posted_cards", "watched_senders", "pending_digests"} <= set(
            tables
        )
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)


async def test_one_open_case_per_sender_even_when_opened_at_once(engine: AsyncEngine) -> None:
    store = CaseStore(engine)
    results = await asyncio.gather(*[_open(store) for _ in range(20)])
    assert len({case.id for case, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    case = results[0][0]
    assert (case.upn, case.state, case.version) == (UPN, CaseState.RESTRICTED, 1)
    assert case.restricted_since is not None
    assert case.restricted_since.tzinfo is not None


async def test_compare_and_set_lets_exactly_one_writer_win(engine: AsyncEngine) -> None:
    store = CaseStore(engine)
    case, _ = await _open(store)
    outcomes = await asyncio.gather(
        *[
            store.update(case, expect={CaseState.RESTRICTED}, state=CaseState.RELEASING)
            for _ in range(20)
        ]
    )
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    assert (winners[0].state, winners[0].version) == (CaseState.RELEASING, 2)
    assert await store.update(case, state=CaseState.READY) is None  # stale version


async def test_a_step_is_claimed_once(engine: AsyncEngine) -> None:
    store = CaseStore(engine)
    case, _ = await _open(store)
    claims = await asyncio.gather(
        *[
            store.start_step(
                case.id, StepName.RESET_PASSWORD, runner=f"r{i}", actor_id="a", actor_name="Alex"
            )
            for i in range(20)
        ]
    )
    assert claims.count(True) == 1
    boom = StepDetail.failed(Problem(ProblemKind.FAILED, "Microsoft Graph", message="boom"))
    await store.finish_step(case.id, StepName.RESET_PASSWORD, StepStatus.FAILED, boom)
    assert await store.start_step(
        case.id, StepName.RESET_PASSWORD, runner="r", actor_id="a", actor_name="Alex"
    )  # a failed step can be retried
    reset, undo = StepDetail(Note.PASSWORD_RESET), RulesUndo(("rule-1",))
    await store.finish_step(case.id, StepName.RESET_PASSWORD, StepStatus.DONE, reset, undo=undo)
    assert not await store.start_step(
        case.id, StepName.RESET_PASSWORD, runner="r", actor_id="a", actor_name="Alex"
    )
    step = (await store.get(case.id)).step(StepName.RESET_PASSWORD)  # type: ignore[union-attr]
    assert (step.status, step.detail, step.attempt, step.undo) == (StepStatus.DONE, reset, 2, undo)


async def test_skip_and_interrupt(engine: AsyncEngine) -> None:
    store = CaseStore(engine)
    case, _ = await _open(store)
    assert await store.skip_step(
        case.id, StepName.REMOVE_FORWARDING, "no forwarding set", actor_id="a", actor_name="Alex"
    )
    await store.start_step(
        case.id, StepName.REVOKE_SESSIONS, runner="dead", actor_id="a", actor_name="Alex"
    )
    await store.start_step(
        case.id, StepName.DISABLE_RULES, runner="alive", actor_id="a", actor_name="Alex"
    )
    assert await store.interrupt_running(runners={"dead"}) == [(case.id, "revoke_sessions")]
    fresh = await store.get(case.id)
    assert fresh is not None
    assert fresh.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
    assert fresh.step(StepName.DISABLE_RULES).status is StepStatus.RUNNING
    assert fresh.step(StepName.REMOVE_FORWARDING).status is StepStatus.SKIPPED
    assert fresh.version > case.version


async def test_a_new_restriction_links_the_closed_case(engine: AsyncEngine) -> None:
    store = CaseStore(engine)
    first, _ = await _open(store)
    closed = await store.update(first, state=CaseState.VERIFIED, closed_at=datetime.now(UTC))
    assert closed is not None
    second, created = await _open(store)
    assert created
    assert second.previous_case_id == first.id
    assert [c.id for c in await store.history(UPN)] == [second.id, first.id]


async def test_audit_trail_is_append_only(engine: AsyncEngine) -> None:
    trail = AuditTrail(engine)
    await trail.record(
        AuditEvent(
            "oid-1",
            "Alex",
            "reset_password",
            UPN,
            "done",
            parameters={"temporary_password": "Xk9!pq2Lm", "force": True},
            detail="password=Xk9!pq2Lm",
        )
    )
    events = await trail.events(target=UPN)
    assert events[0].parameters == {"temporary_password": "[redacted]", "force": True}
    assert "Xk9!pq2Lm" not in events[0].detail
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(audit_events.update().values(result="tampered"))
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(audit_events.delete())
    assert [e.result for e in await trail.events()] == ["done"]


async def test_retention_purges_only_old_events_and_closed_cases(engine: AsyncEngine) -> None:
    trail, store = AuditTrail(engine), CaseStore(engine)
    old = datetime.now(UTC) - timedelta(days=500)
    await trail.record(AuditEvent("oid", "Alex", "release", UPN, "done", at=old))
    await trail.record(AuditEvent("oid", "Alex", "release", UPN, "done"))
    case, _ = await _open(store)
    await store.update(case, state=CaseState.VERIFIED, closed_at=old)
    cutoff = datetime.now(UTC) - timedelta(days=400)
    exported = to_csv(await trail.events())
    assert exported.count("release") == 2
    assert await trail.purge(cutoff) == 1
    assert await store.purge_closed(cutoff) == 1
    assert len(await trail.events()) == 1
    assert await store.get(case.id) is None


def test_cli_migrate_and_export_audit(tmp_path: Path) -> None:
    first = run_app(tmp_path, {}, "migrate", check=True)
    assert first.stdout.strip() == "database schema: empty -> 0009"
    again = run_app(tmp_path, {}, "migrate", check=True)
    assert again.stdout.strip() == "database schema: 0009 -> 0009"
    export = run_app(tmp_path, {}, "export-audit", "--days", "30", check=True)
    assert export.stdout.splitlines()[0].startswith("time,actor_id,actor,action,target")


async def test_replicas_share_microsofts_rate_budgets(engine: AsyncEngine) -> None:
    from bot.store.budgets import SharedBudgets
    from bot.tenant.budgets import REPORTS, next_slot

    clock = [5000.0]
    replicas = [SharedBudgets(engine, clock=lambda: clock[0]) for _ in range(2)]
    waits = await asyncio.gather(
        *[replicas[i % 2].reserve(REPORTS, max_wait=60) for i in range(12)]
    )
    assert all(w is not None for w in waits)
    slots = sorted(5000.0 + w for w in waits if w is not None)
    assert slots[:5] == [5000.0] * 5  # one budget for both: never more than 5 per window
    assert next_slot(slots[:5], REPORTS, 5000.0) == slots[5]
    assert all(later - earlier >= 10.0 for earlier, later in zip(slots, slots[5:], strict=False))
    assert await replicas[0].reserve(REPORTS, max_wait=1) is None
