"""Cases and their steps in the database. Every change is a conditional update (compare-and-set
on the version or status), so concurrent clicks, Teams retries and replicas cannot both win."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.cases.model import NOTES_LOADED, Case, CaseNote, CaseState, CloseReason, Step
from bot.cases.outcomes import StepName, StepStatus
from bot.cases.ports import CaseChange, Change, Event, StepWrite
from bot.core.m365 import RestrictedSender
from bot.store.audit import audit_row
from bot.store.codec import (
    containment_from_json,
    containment_json,
    detail_from_json,
    detail_json,
    evidence_from_json,
    evidence_json,
    problem_from_json,
    problem_json,
    undo_from_json,
    undo_json,
)
from bot.store.schema import audit_events, case_notes, case_steps, cases


def _columns(change: CaseChange) -> dict[str, Any]:
    """A change as column values (the evidence in its stored form, with its time)."""
    values: dict[str, Any] = dict(change)
    if "state" in change:
        values["state"] = change["state"].value
    if "evidence" in change:
        values["evidence"] = evidence_json(change["evidence"])
        values["evidence_at"] = change["evidence"].at
    if "release_problem" in change:
        problem = change["release_problem"]
        values["release_problem"] = problem_json(problem) if problem is not None else None
    if (reason := change.get("close_reason")) is not None:
        values["close_reason"] = reason.value
    if "containment" in change:
        record = change["containment"]
        values["containment"] = containment_json(record)
        work = record.in_flight if record is not None else None
        values["containment_runner"] = work.runner if work is not None else None
    return values


class CaseStore:
    """Reads and changes cases (the workflow's `CaseRepository`); never holds state in memory.
    Reading any number of cases takes three queries: cases, their steps, their newest notes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_case(
        self, sender: RestrictedSender, event: Event, *, at: datetime
    ) -> tuple[Case, bool]:
        """The open case of the sender, created (with `event` audited in the same
        transaction) if there is none; (case, created)."""
        upn = sender.upn.lower()
        existing = await self.open_for(upn)
        if existing is not None:
            return existing, False
        previous = await self._last_closed(upn)
        case_id = str(uuid.uuid4())
        row = {
            "id": case_id,
            "upn": upn,
            "display_name": sender.display_name,
            "user_id": sender.user_id,
            "state": CaseState.RESTRICTED.value,
            "version": 1,
            "reason": sender.reason.raw,
            "restricted_since": sender.created,
            "opened_at": at,
            "updated_at": at,
            "previous_case_id": previous,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(cases.insert().values(**row))
                case = (await self._read(conn, cases.c.id == case_id))[0]
                await conn.execute(audit_events.insert().values(**audit_row(event.about(case, at))))
        except IntegrityError:
            # Another click, alert or replica opened it first: theirs is the case.
            winner = await self.open_for(upn)
            assert winner is not None
            return winner, False
        return case, True

    async def get(self, case_id: str) -> Case | None:
        """The case with this id, steps and newest notes included."""
        found = await self._select(cases.c.id == case_id)
        return found[0] if found else None

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        found = await self._select(cases.c.upn == upn.lower(), cases.c.closed_at.is_(None))
        return found[0] if found else None

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        return await self._select(cases.c.upn == upn.lower())

    async def open_cases(self) -> list[Case]:
        """Every open case, oldest first."""
        found = await self._select(cases.c.closed_at.is_(None))
        return found[::-1]

    async def senders(self, *, open_only: bool, limit: int) -> list[tuple[str, str]]:
        """(UPN, display name) of the senders with a case (open ones only, or any), the most
        recently opened first, each once."""
        query = sa.select(cases.c.upn, cases.c.display_name, cases.c.opened_at)
        if open_only:
            query = query.where(cases.c.closed_at.is_(None))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(cases.c.opened_at.desc()).limit(500))).all()
        found: dict[str, str] = {}
        for row in rows:
            upn = str(row.upn).lower()
            if upn not in found and len(found) < limit:
                found[upn] = str(row.display_name or "")
        return list(found.items())

    async def apply(self, case: Case, change: Change, *, at: datetime) -> Case | None:
        """Apply `change` if the case is still at `case.version` and write its audit event,
        in one transaction; the changed case, or None when another writer changed it first."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                cases.update()
                .where(cases.c.id == case.id, cases.c.version == case.version)
                .values(version=cases.c.version + 1, updated_at=at, **_columns(change.fields))
            )
            if result.rowcount != 1:
                return None
            if change.step is not None:
                await _write_step(conn, case, change.step, at)
            if change.note is not None and change.event is not None:
                actor = change.event.actor
                await conn.execute(
                    case_notes.insert().values(
                        case_id=case.id,
                        at=at,
                        author_id=actor.key,
                        author_name=actor.name,
                        text=change.note,
                    )
                )
            changed = (await self._read(conn, cases.c.id == case.id))[0]
            if change.event is not None:
                event = change.event.about(changed, at)
                await conn.execute(audit_events.insert().values(**audit_row(event)))
        return changed

    async def of_ids(self, case_ids: list[str]) -> list[Case]:
        """These cases (three queries whatever their number)."""
        return await self._select(cases.c.id.in_(case_ids)) if case_ids else []

    async def with_work_in_flight(self) -> list[Case]:
        """Cases on which the containment policy's work is in flight (open or not)."""
        return await self._select(cases.c.containment_runner.is_not(None))

    async def running_steps(self) -> list[tuple[str, StepName, str]]:
        """(case id, step, runner) of every running step."""
        query = sa.select(case_steps.c.case_id, case_steps.c.step, case_steps.c.runner).where(
            case_steps.c.status == StepStatus.RUNNING.value
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(c), StepName(s), str(r or "")) for c, s, r in rows]

    async def purge_closed(self, before: datetime) -> int:
        """Delete closed cases closed before `before` (retention)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(cases.delete().where(cases.c.closed_at < before))
        return int(result.rowcount or 0)

    async def _select(self, *where: sa.ColumnElement[bool]) -> list[Case]:
        async with self._engine.connect() as conn:
            return await self._read(conn, *where)

    async def _read(self, conn: AsyncConnection, *where: sa.ColumnElement[bool]) -> list[Case]:
        """The cases matching `where`, newest first, in three queries whatever their number."""
        rows = (
            await conn.execute(sa.select(cases).where(*where).order_by(cases.c.opened_at.desc()))
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        steps: dict[str, list[Row[Any]]] = {i: [] for i in ids}
        for s in (
            await conn.execute(sa.select(case_steps).where(case_steps.c.case_id.in_(ids)))
        ).all():
            steps[s.case_id].append(s)
        ranked = (
            sa.select(
                case_notes,
                sa.func.count().over(partition_by=case_notes.c.case_id).label("total"),
                sa.func.row_number()
                .over(partition_by=case_notes.c.case_id, order_by=case_notes.c.id.desc())
                .label("rank"),
            )
            .where(case_notes.c.case_id.in_(ids))
            .subquery()
        )
        notes: dict[str, list[Row[Any]]] = {i: [] for i in ids}
        for n in (
            await conn.execute(
                sa.select(ranked).where(ranked.c.rank <= NOTES_LOADED).order_by(ranked.c.id.desc())
            )
        ).all():
            notes[n.case_id].append(n)
        return [_case(r._mapping, steps[r.id], notes[r.id]) for r in rows]

    async def _last_closed(self, upn: str) -> str | None:
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(cases.c.id)
                    .where(cases.c.upn == upn, cases.c.closed_at.is_not(None))
                    .order_by(cases.c.closed_at.desc())
                    .limit(1)
                )
            ).scalar()
        return str(found) if found else None


async def _write_step(conn: AsyncConnection, case: Case, step: StepWrite, at: datetime) -> None:
    """Write a step's new status (its row is created on its first claim or skip)."""
    values: dict[str, Any] = {"status": step.status.value}
    if step.status is StepStatus.RUNNING:
        values |= {"runner": step.runner, "started_at": at, "finished_at": None, "detail": ""}
    else:
        values |= {"finished_at": at, "detail": detail_json(step.detail) if step.detail else ""}
        values["undo"] = undo_json(step.undo)
    if step.actor is not None:
        values |= {"actor_id": step.actor.key, "actor_name": step.actor.name}
    if step.attempt is not None:
        values["attempt"] = step.attempt
    if step.name in case.steps:
        await conn.execute(
            case_steps.update()
            .where(case_steps.c.case_id == case.id, case_steps.c.step == step.name.value)
            .values(**values)
        )
    else:
        await conn.execute(
            case_steps.insert().values(case_id=case.id, step=step.name.value, **values)
        )


def _case(row: RowMapping, steps: Sequence[Row[Any]], notes: Sequence[Row[Any]]) -> Case:
    return Case(
        id=row["id"],
        upn=row["upn"],
        state=CaseState(row["state"]),
        version=row["version"],
        opened_at=row["opened_at"],
        display_name=row["display_name"],
        user_id=row["user_id"],
        reason=row["reason"],
        restricted_since=row["restricted_since"],
        closed_at=row["closed_at"],
        previous_case_id=row["previous_case_id"],
        release_requested_by=row["release_requested_by"],
        release_requested_name=row["release_requested_name"],
        override_reason=row["override_reason"],
        release_requested_at=row["release_requested_at"],
        released_at=row["released_at"],
        released_by=row["released_by"],
        released_by_name=row["released_by_name"],
        release_runner=row["release_runner"],
        release_problem=problem_from_json(row["release_problem"]),
        evidence=evidence_from_json(row["evidence"]),
        steps={
            StepName(s.step): Step(
                StepName(s.step),
                StepStatus(s.status),
                detail_from_json(s.detail),
                s.actor_name or "",
                s.attempt,
                s.finished_at,
                undo_from_json(s.undo),
                s.runner or "",
                s.started_at,
            )
            for s in steps
        },
        owner_id=row["owner_id"],
        owner_name=row["owner_name"],
        close_reason=_close_reason(row["close_reason"]),
        close_comment=row["close_comment"],
        notes=tuple(CaseNote(n.author_name or "", n.text, n.at, n.author_id) for n in notes),
        note_count=int(notes[0].total) if notes else 0,
        containment=containment_from_json(row["containment"]),
    )


def _close_reason(value: str | None) -> CloseReason | None:
    """A stored close reason (an unknown one, from a newer version, reads as "other")."""
    if not value:
        return None
    try:
        return CloseReason(value)
    except ValueError:
        return CloseReason.OTHER
