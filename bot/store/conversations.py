"""Conversations the bot is in (their references, for proactive messages) and which messages
show which case, so a change can update every copy of the card."""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.people import Address
from bot.store.codec import address_from_json, address_json
from bot.store.schema import case_copies, cases, conversations, pending_digests, posted_cards

REWRITE_SECONDS = 300.0
MAX_WRITTEN = 10_000


@dataclass(frozen=True)
class Conversation:
    """A conversation and how to reach it again."""

    id: str
    tenant_id: str
    kind: str
    address: Address
    subscribed: bool
    active: bool
    alert_lang: str = ""  # alerts come in it; empty: the client's locale


@dataclass(frozen=True)
class Copy:
    """A message that shows a case's card, and the case version it shows."""

    conversation: Conversation
    activity_id: str
    shown_version: int
    lang: str = ""  # posted in; empty: the conversation's locale


class ConversationStore:
    """Remembers conversation references and posted case cards."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        # What this replica last wrote per conversation, and when: a turn writes the reference
        # only when it changed or REWRITE_SECONDS passed (another replica may have deactivated
        # the conversation since), not on every message (it was half the turn's database time).
        self._written: OrderedDict[str, tuple[str, str, bool, float]] = OrderedDict()

    async def remember(self, address: Address, *, kind: str, subscribe_new: bool = False) -> None:
        """Store (or refresh) how to reach a conversation; a new one may start subscribed."""
        reference = address_json(address)
        same = (json.dumps(reference, sort_keys=True), kind, subscribe_new)
        key = address.conversation_id
        known = self._written.get(key)
        now = self._clock()
        if known is not None and known[:3] == same and now - known[3] < REWRITE_SECONDS:
            return
        values = {
            "tenant_id": address.tenant_id,
            "kind": kind,
            "reference": reference,
            "updated_at": datetime.now(UTC),
            "active": True,
        }
        await self._upsert(
            conversations,
            {"id": address.conversation_id},
            values,
            new_only={"subscribed": subscribe_new},
        )
        self._written[key] = (*same, now)
        self._written.move_to_end(key)
        if len(self._written) > MAX_WRITTEN:
            self._written.popitem(last=False)

    async def get(self, conversation_id: str) -> Conversation | None:
        """The conversation, if known."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(conversations).where(conversations.c.id == conversation_id)
                )
            ).first()
        return _conversation(row._mapping) if row else None

    async def subscribe(self, conversation_id: str, on: bool, lang: str = "") -> bool:
        """Turn alerts on (in `lang`, when given) or off for a known conversation; False if
        it is unknown."""
        language = {"alert_lang": lang} if on and lang else {}
        async with self._engine.begin() as conn:
            result = await conn.execute(
                conversations.update()
                .where(conversations.c.id == conversation_id)
                .values(subscribed=on, active=True, updated_at=datetime.now(UTC), **language)
            )
        return bool(result.rowcount)

    async def subscriptions(self, *, active_only: bool = True) -> list[Conversation]:
        """Conversations that asked for alerts."""
        query = sa.select(conversations).where(conversations.c.subscribed.is_(True))
        if active_only:
            query = query.where(conversations.c.active.is_(True))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(conversations.c.id))).all()
        return [_conversation(r._mapping) for r in rows]

    async def deactivate(self, conversation_id: str) -> None:
        """The bot can no longer post there (removed, blocked): stop trying."""
        self._written.pop(conversation_id, None)
        async with self._engine.begin() as conn:
            await conn.execute(
                conversations.update()
                .where(conversations.c.id == conversation_id)
                .values(active=False, updated_at=datetime.now(UTC))
            )
            await conn.execute(
                posted_cards.delete().where(
                    posted_cards.c.conversation_id == conversation_id,
                    posted_cards.c.activity_id.is_(None),
                )
            )

    async def forget(self, conversation_id: str) -> None:
        """Uninstalled: drop the conversation, its subscription and its pending alerts."""
        self._written.pop(conversation_id, None)
        async with self._engine.begin() as conn:
            await conn.execute(
                posted_cards.delete().where(posted_cards.c.conversation_id == conversation_id)
            )
            await conn.execute(
                pending_digests.delete().where(pending_digests.c.conversation_id == conversation_id)
            )
            await conn.execute(conversations.delete().where(conversations.c.id == conversation_id))

    async def queue_alert(self, case_id: str, conversation_id: str) -> bool:
        """Queue the case's card for a conversation (once); False if already queued or sent."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    posted_cards.insert().values(
                        case_id=case_id,
                        conversation_id=conversation_id,
                        activity_id=None,
                        posted_version=0,
                        attempts=0,
                        updated_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def queue_digest(
        self, conversation_id: str, case_ids: list[str], wave_id: str | None = None
    ) -> None:
        """Queue one card of these cases for a conversation: the wave's card (`wave_id`), or
        a digest (what earlier versions queued)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                pending_digests.insert().values(
                    conversation_id=conversation_id,
                    case_ids=case_ids,
                    created_at=datetime.now(UTC),
                    wave_id=wave_id,
                )
            )

    async def pending_digests(self) -> list[tuple[int, Conversation, list[str], str | None]]:
        """Queued wave cards and digests not delivered yet: (id, conversation, case ids, the
        wave's id or None)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        conversations,
                        pending_digests.c.id.label("digest_id"),
                        pending_digests.c.case_ids,
                        pending_digests.c.wave_id,
                    )
                    .join(pending_digests, pending_digests.c.conversation_id == conversations.c.id)
                    .where(conversations.c.active.is_(True))
                    .order_by(pending_digests.c.id)
                )
            ).all()
        return [
            (
                int(r.digest_id),
                _conversation(r._mapping),
                [str(c) for c in r.case_ids],
                str(r.wave_id) if r.wave_id else None,
            )
            for r in rows
        ]

    async def digest_done(self, digest_id: int, *, delivered: bool) -> None:
        """Drop a delivered digest, or count a failed attempt (it stays queued)."""
        async with self._engine.begin() as conn:
            where = pending_digests.c.id == digest_id
            if delivered:
                await conn.execute(pending_digests.delete().where(where))
            else:
                await conn.execute(
                    pending_digests.update()
                    .where(where)
                    .values(attempts=pending_digests.c.attempts + 1)
                )

    async def pending_alerts(self) -> list[tuple[str, Conversation, int]]:
        """Queued alerts not delivered yet: (case id, conversation, attempts so far)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(conversations, posted_cards.c.case_id, posted_cards.c.attempts)
                    .join(posted_cards, posted_cards.c.conversation_id == conversations.c.id)
                    .where(posted_cards.c.activity_id.is_(None), conversations.c.active.is_(True))
                    .order_by(posted_cards.c.updated_at)
                )
            ).all()
        return [(str(r.case_id), _conversation(r._mapping), int(r.attempts)) for r in rows]

    async def alert_failed(self, case_id: str, conversation_id: str) -> None:
        """Count a failed delivery attempt (it stays queued)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                posted_cards.update()
                .where(
                    posted_cards.c.case_id == case_id,
                    posted_cards.c.conversation_id == conversation_id,
                )
                .values(attempts=posted_cards.c.attempts + 1, updated_at=datetime.now(UTC))
            )

    async def alert_posted(
        self, case_id: str, conversation_id: str, activity_id: str, version: int, lang: str = ""
    ) -> bool:
        """A queued alert landed as message `activity_id` (a copy of the case from now on, in
        `lang`); True when the case changed while it was on its way (see `show_case`)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                posted_cards.update()
                .where(
                    posted_cards.c.case_id == case_id,
                    posted_cards.c.conversation_id == conversation_id,
                )
                .values(
                    activity_id=activity_id, posted_version=version, updated_at=datetime.now(UTC)
                )
            )
        return await self.show_case(case_id, conversation_id, activity_id, version, lang)

    async def show_case(
        self, case_id: str, conversation_id: str, activity_id: str, version: int, lang: str = ""
    ) -> bool:
        """Remember that message `activity_id` shows the case at `version` (a copy), in `lang`
        (when given; empty: as it was, or the conversation's locale). Never lowers the version
        recorded: a late write of an older card does not hide a newer. True when the case is
        already past `version`: it changed while this message was on its way, and the redraw
        of that change may have missed the copy."""
        key = {
            "case_id": case_id,
            "conversation_id": conversation_id,
            "activity_id": activity_id,
        }
        where = [case_copies.c[name] == value for name, value in key.items()]
        async with self._engine.begin() as conn:
            changed = await conn.execute(
                case_copies.update()
                .where(*where, case_copies.c.shown_version <= version)
                .values(
                    shown_version=version,
                    updated_at=datetime.now(UTC),
                    **({"lang": lang} if lang else {}),
                )
            )
        if not changed.rowcount:
            # A copy in a conversation BlockWatch does not know (it never admitted anyone there)
            # cannot be updated later anyway: the foreign key refuses it, which is fine.
            with contextlib.suppress(IntegrityError):
                async with self._engine.begin() as conn:
                    await conn.execute(
                        case_copies.insert().values(
                            **key, shown_version=version, updated_at=datetime.now(UTC), lang=lang
                        )
                    )
        # Read after the copy is written: a change from now on finds the copy by itself.
        async with self._engine.connect() as conn:
            now = await conn.execute(sa.select(cases.c.version).where(cases.c.id == case_id))
            return int(now.scalar() or 0) > version

    async def has_copy(self, case_id: str, conversation_id: str) -> bool:
        """Whether a message in this conversation already shows the case."""
        async with self._engine.connect() as conn:
            found = await conn.execute(
                sa.select(case_copies.c.activity_id)
                .where(
                    case_copies.c.case_id == case_id,
                    case_copies.c.conversation_id == conversation_id,
                )
                .limit(1)
            )
            return found.first() is not None

    async def copies(self, case_id: str) -> list[Copy]:
        """Every message showing the case."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        conversations,
                        case_copies.c.activity_id,
                        case_copies.c.shown_version,
                        case_copies.c.lang,
                    )
                    .join(case_copies, case_copies.c.conversation_id == conversations.c.id)
                    .where(case_copies.c.case_id == case_id, conversations.c.active.is_(True))
                )
            ).all()
        return [
            Copy(_conversation(r._mapping), str(r.activity_id), r.shown_version, r.lang or "")
            for r in rows
        ]

    async def stale_copies(self, before: datetime) -> list[str]:
        """Cases with a copy behind the case's version, not touched since `before`."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(case_copies.c.case_id)
                .join(cases, cases.c.id == case_copies.c.case_id)
                .where(
                    case_copies.c.shown_version < cases.c.version,
                    case_copies.c.updated_at < before,
                )
                .distinct()
            )
            return [str(r) for r in rows.scalars()]

    async def drop_copy(self, case_id: str, conversation_id: str, activity_id: str) -> None:
        """The message is gone (deleted in Teams): stop updating it."""
        async with self._engine.begin() as conn:
            await conn.execute(
                case_copies.delete().where(
                    case_copies.c.case_id == case_id,
                    case_copies.c.conversation_id == conversation_id,
                    case_copies.c.activity_id == activity_id,
                )
            )

    async def _upsert(
        self,
        table: sa.Table,
        key: dict[str, Any],
        values: dict[str, Any],
        *,
        new_only: dict[str, Any] | None = None,
    ) -> None:
        """Update the row with `key`, or insert it (with `new_only` too); a concurrent insert
        of the same row is fine (it was just written)."""
        where = [table.c[name] == value for name, value in key.items()]
        async with self._engine.begin() as conn:
            if (await conn.execute(table.update().where(*where).values(**values))).rowcount:
                return
        with contextlib.suppress(IntegrityError):
            async with self._engine.begin() as conn:
                await conn.execute(table.insert().values(**key, **values, **(new_only or {})))


def _conversation(row: RowMapping) -> Conversation:
    return Conversation(
        row["id"],
        row["tenant_id"],
        row["kind"],
        address_from_json(row["reference"]),
        bool(row["subscribed"]),
        bool(row["active"]),
        row["alert_lang"] or "",
    )
