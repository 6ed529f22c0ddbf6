"""Cases and their steps in the database. Every change is a conditional update (compare-and-set
on the version or status), so concurrent clicks, Teams retries and replicas cannot both win."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.cases.evidence import Evidence
from bot.cases.model import (
    NOTES_LOADED,
    STARTABLE,
    Case,
    CaseNote,
    CaseState,
    CloseReason,
    Note,
    Step,
    StepDetail,
    StepName,
    StepStatus,
    Undo,
)
from bot.errors import Problem
from bot.store.codec import (
    detail_from_json,
    detail_json,
    evidence_from_json,
    evidence_json,
    problem_from_json,
    problem_json,
    undo_from_json,
    undo_json,
)
from bot.store.schema import case_notes, case_steps, cases


class CaseChange(TypedDict, total=False):
    """The fields of a case that may change, with their domain types."""

    state: CaseState
    user_id: str
    display_name: str
    evidence: Evidence
    released_at: datetime
    closed_at: datetime
    release_requested_by: str | None
    release_requested_name: str | None
    override_reason: str | None
    release_requested_at: datetime | None
    released_by: str
    released_by_name: str
    release_runner: str | None
    release_problem: Problem | None
    owner_id: str | None
    owner_name: str | None
    close_reason: CloseReason | None
    close_comment: str | None


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
    return values


def _now() -> datetime:
    return datetime.now(UTC)


class CaseStore:
    """Reads and changes cases; never holds state in memory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_case(
        self,
        upn: str,
        *,
        display_name: str | None,
        reason: str,
        restricted_since: datetime | None,
        user_id: str | None = None,
    ) -> tuple[Case, bool]:
        """The open case for `upn`, creating it if there is none; (case, created)."""
        upn = upn.lower()
        existing = await self.open_for(upn)
        if existing is not None:
            return existing, False
        previous = await self._last_closed(upn)
        now = _now()
        case_id = str(uuid.uuid4())
        row = {
            "id": case_id,
            "upn": upn,
            "display_name": display_name,
            "user_id": user_id,
            "state": CaseState.RESTRICTED.value,
            "version": 1,
            "reason": reason,
            "restricted_since": restricted_since,
            "opened_at": now,
            "updated_at": now,
            "previous_case_id": previous.id if previous else None,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(cases.insert().values(**row))
        except IntegrityError:
            # Another click, alert or replica opened it first: theirs is the case.
            winner = await self.open_for(upn)
            assert winner is not None
            return winner, False
        case = await self.get(case_id)
        assert case is not None
        return case, True

    async def get(self, case_id: str) -> Case | None:
        """The case with this id, steps included."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(cases).where(cases.c.id == case_id))).first()
            if row is None:
                return None
            steps = (
                await conn.execute(sa.select(case_steps).where(case_steps.c.case_id == case_id))
            ).all()
            notes = (
                await conn.execute(
                    sa.select(case_notes, sa.func.count().over().label("total"))
                    .where(case_notes.c.case_id == case_id)
                    .order_by(case_notes.c.id.desc())
                    .limit(NOTES_LOADED)
                )
            ).all()
        return _case(row._mapping, steps, notes)

    async def open_for(self, upn: str) -> Case | None:
        """The sender's open case, if any."""
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(cases.c.id).where(
                        cases.c.upn == upn.lower(), cases.c.closed_at.is_(None)
                    )
                )
            ).scalar()
        return await self.get(found) if found else None

    async def history(self, upn: str) -> list[Case]:
        """Every case of the sender, newest first."""
        async with self._engine.connect() as conn:
            ids = (
                (
                    await conn.execute(
                        sa.select(cases.c.id)
                        .where(cases.c.upn == upn.lower())
                        .order_by(cases.c.opened_at.desc())
                    )
                )
                .scalars()
                .all()
            )
        found = [await self.get(i) for i in ids]
        return [c for c in found if c is not None]

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

    async def open_cases(self) -> list[Case]:
        """Every open case."""
        async with self._engine.connect() as conn:
            ids = (
                (await conn.execute(sa.select(cases.c.id).where(cases.c.closed_at.is_(None))))
                .scalars()
                .all()
            )
        found = [await self.get(i) for i in ids]
        return [c for c in found if c is not None]

    async def update(
        self,
        case: Case,
        *,
        expect: frozenset[CaseState] | None = None,
        **change: Unpack[CaseChange],
    ) -> Case | None:
        """Change the case if it is still at `case.version` (and in `expect`); None if not."""
        clauses = [cases.c.id == case.id, cases.c.version == case.version]
        if expect is not None:
            clauses.append(cases.c.state.in_([s.value for s in expect]))
        async with self._engine.begin() as conn:
            result = await conn.execute(
                cases.update()
                .where(*clauses)
                .values(version=cases.c.version + 1, updated_at=_now(), **_columns(change))
            )
        if result.rowcount != 1:
            return None
        return await self.get(case.id)

    async def touch(self, case_id: str, **change: Unpack[CaseChange]) -> Case | None:
        """Change a case whatever its version (background results); bumps the version."""
        async with self._engine.begin() as conn:
            await conn.execute(
                cases.update()
                .where(cases.c.id == case_id)
                .values(version=cases.c.version + 1, updated_at=_now(), **_columns(change))
            )
        return await self.get(case_id)

    async def start_step(
        self, case_id: str, step: StepName, *, runner: str, actor_id: str, actor_name: str
    ) -> bool:
        """Claim a step to run it: only one caller wins, and only from a startable status."""
        now = _now()
        who = {
            "actor_id": actor_id,
            "actor_name": actor_name,
            "runner": runner,
            "status": StepStatus.RUNNING.value,
            "started_at": now,
        }
        return await self._claim(
            case_id,
            step,
            first={**who, "attempt": 1},
            again={**who, "attempt": case_steps.c.attempt + 1, "finished_at": None, "detail": ""},
        )

    async def finish_step(
        self,
        case_id: str,
        step: StepName,
        status: StepStatus,
        detail: StepDetail,
        *,
        undo: Undo | None = None,
    ) -> None:
        """Record a step's outcome (only a running step can finish)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                case_steps.update()
                .where(
                    case_steps.c.case_id == case_id,
                    case_steps.c.step == step.value,
                    case_steps.c.status == StepStatus.RUNNING.value,
                )
                .values(
                    status=status.value,
                    detail=detail_json(detail),
                    undo=undo_json(undo),
                    finished_at=_now(),
                )
            )
            await self._bump(conn, case_id)

    async def skip_step(
        self, case_id: str, step: StepName, reason: str, *, actor_id: str, actor_name: str
    ) -> bool:
        """Mark a not-run/failed step as skipped with a reason."""
        values = {
            "status": StepStatus.SKIPPED.value,
            "detail": detail_json(StepDetail(Note.SKIPPED, reason=reason)),
            "actor_id": actor_id,
            "actor_name": actor_name,
            "finished_at": _now(),
        }
        return await self._claim(case_id, step, first=values, again=values)

    async def _claim(
        self, case_id: str, step: StepName, *, first: dict[str, Any], again: dict[str, Any]
    ) -> bool:
        """Insert the step's row with `first`, or move an existing row that is in a startable
        status to `again`; bump the case version when either changed anything. The unique
        key and the status condition let exactly one of any number of callers win."""
        async with self._engine.begin() as conn:
            try:
                await conn.execute(
                    case_steps.insert().values(case_id=case_id, step=step.value, **first)
                )
            except IntegrityError:
                pass
            else:
                await self._bump(conn, case_id)
                return True
        async with self._engine.begin() as conn:
            result = await conn.execute(
                case_steps.update()
                .where(
                    case_steps.c.case_id == case_id,
                    case_steps.c.step == step.value,
                    case_steps.c.status.in_([s.value for s in STARTABLE]),
                )
                .values(**again)
            )
            if result.rowcount == 1:
                await self._bump(conn, case_id)
                return True
        return False

    async def interrupt_running(
        self, *, runners: set[str] | None = None, except_runners: set[str] | None = None
    ) -> list[tuple[str, str]]:
        """Mark running steps of dead runners interrupted; returns (case id, step)."""
        clauses = [case_steps.c.status == StepStatus.RUNNING.value]
        if runners is not None:
            clauses.append(case_steps.c.runner.in_(runners))
        if except_runners is not None:
            clauses.append(case_steps.c.runner.not_in(except_runners))
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(case_steps.c.case_id, case_steps.c.step).where(*clauses)
                )
            ).all()
            for case_id, step in rows:
                await conn.execute(
                    case_steps.update()
                    .where(
                        case_steps.c.case_id == case_id,
                        case_steps.c.step == step,
                        case_steps.c.status == StepStatus.RUNNING.value,
                    )
                    .values(
                        status=StepStatus.INTERRUPTED.value,
                        detail=detail_json(StepDetail(Note.INTERRUPTED)),
                        finished_at=_now(),
                    )
                )
                await self._bump(conn, case_id)
        return [(str(c), str(s)) for c, s in rows]

    async def add_note(self, case_id: str, text: str, *, author_id: str, author_name: str) -> None:
        """Add a note to the case (and bump its version, so every copy of its card shows it)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                case_notes.insert().values(
                    case_id=case_id,
                    at=_now(),
                    author_id=author_id,
                    author_name=author_name,
                    text=text,
                )
            )
            await self._bump(conn, case_id)

    async def purge_closed(self, before: datetime) -> int:
        """Delete closed cases closed before `before` (retention)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(cases.delete().where(cases.c.closed_at < before))
        return int(result.rowcount or 0)

    async def _bump(self, conn: AsyncConnection, case_id: str) -> None:
        await conn.execute(
            cases.update()
            .where(cases.c.id == case_id)
            .values(version=cases.c.version + 1, updated_at=_now())
        )

    async def _last_closed(self, upn: str) -> Case | None:
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(cases.c.id)
                    .where(cases.c.upn == upn, cases.c.closed_at.is_not(None))
                    .order_by(cases.c.closed_at.desc())
                    .limit(1)
                )
            ).scalar()
        return await self.get(found) if found else None


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
            )
            for s in steps
        },
        owner_id=row["owner_id"],
        owner_name=row["owner_name"],
        close_reason=_close_reason(row["close_reason"]),
        close_comment=row["close_comment"],
        notes=tuple(CaseNote(n.author_name or "", n.text, n.at, n.author_id) for n in notes),
        note_count=int(notes[0].total) if notes else 0,
    )


def _close_reason(value: str | None) -> CloseReason | None:
    """A stored close reason (an unknown one, from a newer version, reads as "other")."""
    if not value:
        return None
    try:
        return CloseReason(value)
    except ValueError:
        return CloseReason.OTHER
