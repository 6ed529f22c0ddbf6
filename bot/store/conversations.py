"""Conversations the bot is in (their references, for proactive messages) and which messages
show which case, so a change can update every copy of the card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import conversations, posted_cards


@dataclass(frozen=True)
class Conversation:
    """A conversation and how to reach it again."""

    id: str
    tenant_id: str
    kind: str
    reference: dict[str, Any]
    subscribed: bool
    active: bool


class ConversationStore:
    """Remembers conversation references and posted case cards."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def remember(
        self, conversation_id: str, *, tenant_id: str, kind: str, reference: dict[str, Any]
    ) -> None:
        """Store (or refresh) how to reach a conversation."""
        now = datetime.now(UTC)
        values = {
            "tenant_id": tenant_id,
            "kind": kind,
            "reference": reference,
            "updated_at": now,
            "active": True,
        }
        async with self._engine.begin() as conn:
            result = await conn.execute(
                conversations.update().where(conversations.c.id == conversation_id).values(**values)
            )
            if result.rowcount:
                return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(conversations.insert().values(id=conversation_id, **values))
        except IntegrityError:
            pass  # remembered concurrently by another request

    async def get(self, conversation_id: str) -> Conversation | None:
        """The conversation, if known."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(conversations).where(conversations.c.id == conversation_id)
                )
            ).first()
        return _conversation(row._mapping) if row else None

    async def show_case(
        self, case_id: str, conversation_id: str, activity_id: str, version: int
    ) -> None:
        """Remember that message `activity_id` shows the case's card."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                posted_cards.update()
                .where(
                    posted_cards.c.case_id == case_id,
                    posted_cards.c.conversation_id == conversation_id,
                )
                .values(activity_id=activity_id, posted_version=version, updated_at=now)
            )
            if result.rowcount:
                return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    posted_cards.insert().values(
                        case_id=case_id,
                        conversation_id=conversation_id,
                        activity_id=activity_id,
                        posted_version=version,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass

    async def cards_of(self, case_id: str) -> list[tuple[Conversation, str]]:
        """Every (conversation, message id) showing the case."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(conversations, posted_cards.c.activity_id)
                    .join(posted_cards, posted_cards.c.conversation_id == conversations.c.id)
                    .where(
                        posted_cards.c.case_id == case_id, posted_cards.c.activity_id.is_not(None)
                    )
                )
            ).all()
        return [(_conversation(r._mapping), str(r.activity_id)) for r in rows]


def _conversation(row: Any) -> Conversation:
    return Conversation(
        row["id"],
        row["tenant_id"],
        row["kind"],
        row["reference"],
        bool(row["subscribed"]),
        bool(row["active"]),
    )
