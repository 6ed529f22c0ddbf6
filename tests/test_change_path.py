"""The one change path on SQLite and PostgreSQL: a change and its audit event are one
transaction, and a writer that read an older version changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.ledger import SYSTEM, CaseLedger
from bot.cases.model import Case, CaseState
from bot.cases.ports import AuditAction, CaseChange, Change, Event
from bot.core.clock import utcnow
from bot.store.audit import AuditTrail
from bot.store.cases import CaseStore
from tests.workflow import ALEX, Announced, MemoryTenant

_REFUSE = {
    "sqlite": [
        """CREATE TRIGGER refuse_taken BEFORE INSERT ON audit_events
           WHEN NEW.action = 'case_taken'
           BEGIN SELECT RAISE(ABORT, 'audit refused'); END"""
    ],
    "postgresql": [
        """CREATE FUNCTION refuse_taken() RETURNS trigger AS $$
           BEGIN
             IF NEW.action = 'case_taken' THEN RAISE EXCEPTION 'audit refused'; END IF;
             RETURN NEW;
           END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER refuse_taken BEFORE INSERT ON audit_events
           FOR EACH ROW EXECUTE FUNCTION refuse_taken()""",
    ],
}


def _ledger(engine: AsyncEngine) -> CaseLedger:
    return CaseLedger(CaseStore(engine), AuditTrail(engine), Announced(), utcnow)


def _take(case: Case) -> Change:
    taken = Event(AuditAction.CASE_TAKEN, ALEX, "done")
    return Change(taken, CaseChange(owner_id=ALEX.key, owner_name=ALEX.name))


async def test_a_change_whose_audit_event_cannot_be_written_is_not_made(
    engine: AsyncEngine,
) -> None:
    ledger = _ledger(engine)
    case = await ledger.open_case(MemoryTenant().sender())
    async with engine.begin() as conn:
        for statement in _REFUSE[engine.dialect.name]:
            await conn.execute(sa.text(statement))
    with pytest.raises(DBAPIError, match="audit refused"):
        await ledger.change(case.id, _take)
    unchanged = await ledger.get(case.id)
    assert unchanged is not None
    assert (unchanged.owner_id, unchanged.version) == (None, case.version)
    actions = [e.action for e in await AuditTrail(engine).events(case_id=case.id)]
    assert actions == ["case_opened"]


async def test_a_writer_holding_an_old_version_changes_nothing(engine: AsyncEngine) -> None:
    replica_a, replica_b = CaseStore(engine), CaseStore(engine)
    ledger = _ledger(engine)
    case = await ledger.open_case(MemoryTenant().sender())
    seen_by_a = await replica_a.get(case.id)
    assert seen_by_a is not None
    ready = Change(Event(AuditAction.CASE_READY, SYSTEM, "done"), CaseChange(state=CaseState.READY))
    releasing = Change(
        Event(AuditAction.RELEASE_STARTED, ALEX, "running"), CaseChange(state=CaseState.RELEASING)
    )
    assert await replica_b.apply(case, releasing, at=utcnow()) is not None
    assert await replica_a.apply(seen_by_a, ready, at=utcnow()) is None
    now = await ledger.get(case.id)
    assert now is not None
    assert (now.state, now.version) == (CaseState.RELEASING, case.version + 1)
    actions = [e.action for e in await AuditTrail(engine).events(case_id=case.id)]
    assert actions == ["case_opened", "release_started"]  # the loser wrote no event


async def test_every_state_change_is_audited_in_its_transaction(engine: AsyncEngine) -> None:
    ledger = _ledger(engine)
    case = await ledger.open_case(MemoryTenant().sender())
    moves = [CaseState.INVESTIGATING, CaseState.INVESTIGATED, CaseState.REMEDIATING]
    for state in moves:
        said = Event(AuditAction.CASE_SETTLED, SYSTEM, state.value)
        assert (
            await ledger.change(case.id, lambda _, s=state, e=said: Change(e, {"state": s}))
        ).done
    events = await AuditTrail(engine).events(case_id=case.id)
    assert [e.result for e in events[1:]] == [s.value for s in moves]
    final = await ledger.get(case.id)
    assert final is not None
    assert final.version == 1 + len(moves)
