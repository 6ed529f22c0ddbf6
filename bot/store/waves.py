"""Waves and the copies of their cards (the workflow's `WaveRepository`); never held in memory.
A wave's bulk action is written with compare-and-set on the wave's version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cases.waves import BulkAction, Wave
from bot.store.codec import bulk_from_json, bulk_json
from bot.store.schema import wave_copies, waves


@dataclass(frozen=True)
class WaveCopy:
    """A message showing the wave's card."""

    conversation_id: str
    activity_id: str
    lang: str
    shown: str = ""  # the state of the wave the message was last drawn from


class WaveStore:
    """Reads and changes waves."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_wave(self, since: datetime) -> Wave | None:
        """The newest wave opened since `since`, if any."""
        query = (
            sa.select(waves).where(waves.c.opened_at >= since).order_by(waves.c.opened_at.desc())
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query.limit(1))).first()
        return _wave(row._mapping) if row else None

    async def create(self, case_ids: list[str], at: datetime) -> Wave:
        """A new wave of these cases."""
        wave_id = str(uuid.uuid4())
        unique = list(dict.fromkeys(case_ids))
        async with self._engine.begin() as conn:
            await conn.execute(
                waves.insert().values(
                    id=wave_id, opened_at=at, updated_at=at, version=1, case_ids=unique
                )
            )
        return Wave(wave_id, at, 1, tuple(unique))

    async def add(self, wave_id: str, case_ids: list[str], at: datetime) -> Wave | None:
        """These cases join the wave (compare-and-set, retried while others add too)."""
        for _ in range(20):
            wave = await self.get(wave_id)
            if wave is None:
                return None
            joined = list(dict.fromkeys([*wave.case_ids, *case_ids]))
            if len(joined) == len(wave.case_ids):
                return wave
            async with self._engine.begin() as conn:
                done = await conn.execute(
                    waves.update()
                    .where(waves.c.id == wave_id, waves.c.version == wave.version)
                    .values(case_ids=joined, version=wave.version + 1, updated_at=at)
                )
            if done.rowcount == 1:
                return await self.get(wave_id)
        return await self.get(wave_id)

    async def get(self, wave_id: str) -> Wave | None:
        """The wave with this id."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(waves).where(waves.c.id == wave_id))).first()
        return _wave(row._mapping) if row else None

    async def set_bulk(self, wave: Wave, bulk: BulkAction, at: datetime) -> Wave | None:
        """Record the bulk action if the wave is still at `wave.version`."""
        async with self._engine.begin() as conn:
            done = await conn.execute(
                waves.update()
                .where(waves.c.id == wave.id, waves.c.version == wave.version)
                .values(
                    bulk=bulk_json(bulk),
                    bulk_running=bulk.running,
                    version=wave.version + 1,
                    updated_at=at,
                )
            )
        return await self.get(wave.id) if done.rowcount == 1 else None

    async def of_case(self, case_id: str, since: datetime) -> list[str]:
        """Ids of the waves opened since `since` that hold the case (a handful at most)."""
        query = sa.select(waves.c.id, waves.c.case_ids).where(waves.c.opened_at >= since)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [str(r.id) for r in rows if case_id in (r.case_ids or [])]

    async def running_bulk(self) -> list[Wave]:
        """Waves whose bulk action is still running."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(waves).where(waves.c.bulk_running))).all()
        return [_wave(r._mapping) for r in rows]

    async def add_copy(
        self, wave_id: str, conversation_id: str, activity_id: str, lang: str, at: datetime
    ) -> None:
        """Message `activity_id` in the conversation shows the wave's card."""
        row = {"activity_id": activity_id, "lang": lang, "updated_at": at}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    wave_copies.insert().values(
                        wave_id=wave_id, conversation_id=conversation_id, **row
                    )
                )
        except IntegrityError:
            async with self._engine.begin() as conn:
                await conn.execute(
                    wave_copies.update()
                    .where(
                        wave_copies.c.wave_id == wave_id,
                        wave_copies.c.conversation_id == conversation_id,
                    )
                    .values(**row)
                )

    async def copies(self, wave_id: str) -> list[WaveCopy]:
        """Every message showing the wave's card."""
        query = sa.select(wave_copies).where(wave_copies.c.wave_id == wave_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            WaveCopy(r.conversation_id, r.activity_id, r.lang or "", r.shown or "") for r in rows
        ]

    async def shown(self, wave_id: str, conversation_id: str, shown: str) -> None:
        """The message now shows the wave as it was at `shown`."""
        async with self._engine.begin() as conn:
            await conn.execute(
                wave_copies.update()
                .where(
                    wave_copies.c.wave_id == wave_id,
                    wave_copies.c.conversation_id == conversation_id,
                )
                .values(shown=shown)
            )

    async def recent(self, since: datetime) -> list[Wave]:
        """The waves opened since `since`."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(waves).where(waves.c.opened_at >= since))).all()
        return [_wave(r._mapping) for r in rows]

    async def drop_copy(self, wave_id: str, conversation_id: str) -> None:
        """The message is gone (deleted in Teams)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                wave_copies.delete().where(
                    wave_copies.c.wave_id == wave_id,
                    wave_copies.c.conversation_id == conversation_id,
                )
            )


def _wave(row: RowMapping) -> Wave:
    ids: list[Any] = row["case_ids"] or []
    return Wave(
        id=str(row["id"]),
        opened_at=row["opened_at"],
        version=int(row["version"]),
        case_ids=tuple(str(i) for i in ids),
        bulk=bulk_from_json(row["bulk"]),
    )
