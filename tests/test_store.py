"""The store on SQLite and PostgreSQL: migrations, compare-and-set, the append-only trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.ledger import SYSTEM, CaseLedger
from bot.cases.model import Case, CaseState
from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus, Undo
from bot.cases.ports import AuditAction, CaseChange, Change, Decide, Event, StepWrite
from bot.cases.steps.disable_rules import RulesUndo
from bot.core.audit import AuditEvent
from bot.core.clock import utcnow
from bot.core.m365 import RestrictedSender, parse_reason
from bot.core.people import Actor
from bot.errors import Problem, ProblemKind
from bot.store.audit import AuditTrail, to_csv
from bot.store.cases import CaseStore
from bot.store.db import current_revision, head_revision, migrate, open_engine
from bot.store.schema import audit_events
from tests.conftest import _drop_schema, _postgres_schema
from tests.helpers import run_app

UPN = "joost.vandenbergh@contoso.onmicrosoft.com"
ALEX = Actor("29:alex", "oid-alex", "Alex")
OPENED = Event(AuditAction.CASE_OPENED, SYSTEM, "done")


class Announced:
    """Remembers which cases were announced."""

    def __init__(self) -> None:
        self.cases: list[str] = []

    def case_changed(self, case_id: str) -> None:
        self.cases.append(case_id)


def _sender(upn: str = UPN) -> RestrictedSender:
    return RestrictedSender(
        upn,
        "Joost",
        parse_reason("ExceedingLimitType=External"),
        datetime.now(UTC) - timedelta(minutes=5),
        None,
        False,
    )


async def _open(store: CaseStore, upn: str = UPN) -> tuple[Case, bool]:
    return await store.open_case(_sender(upn), OPENED, at=datetime.now(UTC))


def _ledger(engine: AsyncEngine) -> CaseLedger:
    return CaseLedger(CaseStore(engine), AuditTrail(engine), Announced(), utcnow)


def _claim(step: StepName, runner: str) -> Decide:
    def claim(case: Case) -> Change | None:
        if not case.can_start(step):
            return None
        attempt = case.step(step).attempt + 1
        running = StepWrite(step, StepStatus.RUNNING, runner=runner, actor=ALEX, attempt=attempt)
        return Change(Event(AuditAction.STEP_STARTED, ALEX, "running", step), step=running)

    return claim


def _end(
    step: StepName, status: StepStatus, detail: StepDetail, undo: Undo | None = None
) -> Decide:
    def end(case: Case) -> Change | None:
        if case.step(step).status is not StepStatus.RUNNING:
            return None
        said = Event(AuditAction.STEP_FINISHED, ALEX, status.value, step)
        return Change(said, step=StepWrite(step, status, detail, undo))

    return end


def _close(at: datetime) -> Decide:
    def close(case: Case) -> Change:
        said = Event(AuditAction.RELEASE_VERIFIED, ALEX, "done")
        return Change(said, CaseChange(state=CaseState.VERIFIED, closed_at=at))

    return close


async def test_database_is_at_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision() == "0013"
    await migrate(engine)  # idempotent
    assert await current_revision(engine) == "0013"


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
        assert await current_revision(db) == "0013"
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
    releasing = Change(
        Event(AuditAction.RELEASE_STARTED, ALEX, "running"), CaseChange(state=CaseState.RELEASING)
    )
    now = datetime.now(UTC)
    outcomes = await asyncio.gather(*[store.apply(case, releasing, at=now) for _ in range(20)])
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    assert (winners[0].state, winners[0].version) == (CaseState.RELEASING, 2)
    ready = Change(Event(AuditAction.CASE_READY, ALEX, "done"), CaseChange(state=CaseState.READY))
    assert await store.apply(case, ready, at=now) is None  # stale version


async def test_a_step_is_claimed_once(engine: AsyncEngine) -> None:
    ledger = _ledger(engine)
    case = await ledger.open_case(_sender())
    reset = StepName.RESET_PASSWORD
    claims = await asyncio.gather(
        *[ledger.change(case.id, _claim(reset, f"r{i}")) for i in range(20)]
    )
    assert [c.done for c in claims].count(True) == 1
    boom = StepDetail.failed(Problem(ProblemKind.FAILED, "Microsoft Graph", message="boom"))
    await ledger.change(case.id, _end(reset, StepStatus.FAILED, boom))
    assert (await ledger.change(case.id, _claim(reset, "r"))).done  # a failed step is retried
    done, undo = StepDetail(Note.PASSWORD_RESET), RulesUndo(("rule-1",))
    await ledger.change(case.id, _end(reset, StepStatus.DONE, done, undo))
    assert not (await ledger.change(case.id, _claim(reset, "r"))).done
    step = (await ledger.get(case.id)).step(reset)  # type: ignore[union-attr]
    assert (step.status, step.detail, step.attempt, step.undo) == (StepStatus.DONE, done, 2, undo)


async def test_skip_and_interrupt(engine: AsyncEngine, tmp_path: Path) -> None:
    ledger = _ledger(engine)
    case = await ledger.open_case(_sender())
    why = StepDetail(Note.SKIPPED, reason="no forwarding set")
    skip = StepWrite(StepName.REMOVE_FORWARDING, StepStatus.SKIPPED, why, actor=ALEX)
    said = Event(AuditAction.STEP_SKIPPED, ALEX, "skipped", StepName.REMOVE_FORWARDING)
    assert (await ledger.change(case.id, lambda _: Change(said, step=skip))).done
    await ledger.change(case.id, _claim(StepName.REVOKE_SESSIONS, "dead"))
    await ledger.change(case.id, _claim(StepName.DISABLE_RULES, "alive"))
    running = await ledger.running_steps()
    assert sorted(running) == [
        (case.id, "disable_rules", "alive"),
        (case.id, "revoke_sessions", "dead"),
    ]
    parked = StepDetail(Note.INTERRUPTED)
    await ledger.change(case.id, _end(StepName.REVOKE_SESSIONS, StepStatus.INTERRUPTED, parked))
    fresh = await ledger.get(case.id)
    assert fresh is not None
    assert fresh.step(StepName.REVOKE_SESSIONS).status is StepStatus.INTERRUPTED
    assert fresh.step(StepName.DISABLE_RULES).status is StepStatus.RUNNING
    assert fresh.step(StepName.DISABLE_RULES).runner == "alive"
    assert fresh.step(StepName.REMOVE_FORWARDING).status is StepStatus.SKIPPED
    assert fresh.version > case.version


async def test_a_new_restriction_links_the_closed_case(engine: AsyncEngine) -> None:
    ledger = _ledger(engine)
    first = await ledger.open_case(_sender())
    closed = await ledger.change(first.id, _close(datetime.now(UTC)))
    assert closed.done
    second = await ledger.open_case(_sender())
    assert second.id != first.id
    assert second.previous_case_id == first.id
    assert [c.id for c in await ledger.history(UPN)] == [second.id, first.id]


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
    await _ledger(engine).change(case.id, _close(old))
    cutoff = datetime.now(UTC) - timedelta(days=400)
    exported = to_csv(await trail.events())
    assert exported.count('"release"') == 2
    assert await trail.purge(cutoff) == 1
    assert await store.purge_closed(cutoff) == 1
    assert [e.action for e in await trail.events()] == [
        "release",
        "case_opened",
        "release_verified",
    ]
    assert await store.get(case.id) is None


def test_cli_migrate_and_export_audit(tmp_path: Path) -> None:
    first = run_app(tmp_path, {}, "migrate", check=True)
    assert first.stdout.strip() == "database schema: empty -> 0013"
    again = run_app(tmp_path, {}, "migrate", check=True)
    assert again.stdout.strip() == "database schema: 0013 -> 0013"
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


async def test_the_schema_in_code_is_the_schema_the_migrations_make(engine: AsyncEngine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.store.schema import metadata

    def differences(conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
