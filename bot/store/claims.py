"""Claims to post a case card into a conversation, shared by every replica: five admins opening
one sender in a channel, on any replicas, get one card, not five."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import card_claims


class CardClaims:
    """One claim per (case, conversation), held until the card is posted or `hold` passes."""

    def __init__(self, engine: AsyncEngine, *, hold: timedelta) -> None:
        self._engine = engine
        self._hold = hold

    async def claim(self, case_id: str, conversation_id: str, now: datetime) -> bool:
        """Claim posting the case's card in the conversation; False when someone holds it."""
        key = {"case_id": case_id, "conversation_id": conversation_id}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(card_claims.insert().values(**key, until=now + self._hold))
            return True
        except IntegrityError:
            pass
        async with self._engine.begin() as conn:  # take over a claim whose post never came
            taken = await conn.execute(
                card_claims.update()
                .where(
                    card_claims.c.case_id == case_id,
                    card_claims.c.conversation_id == conversation_id,
                    card_claims.c.until < now,
                )
                .values(until=now + self._hold)
            )
        return taken.rowcount == 1

    async def release(self, case_id: str, conversation_id: str) -> None:
        """The card was posted (its copy now stands for the claim) or could not be."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(card_claims).where(
                    card_claims.c.case_id == case_id,
                    card_claims.c.conversation_id == conversation_id,
                )
            )
