"""Delivering alert cards: queued in the database, sent through the paced outbox (Teams'
limits, retries), tried again every round until they land or the conversation is gone."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from bot import metrics
from bot.cases.model import Case
from bot.cases.waves import Wave
from bot.chat.outbox import Outbox, SendFailed
from bot.chat.views import CaseViews
from bot.chat.waves import WaveViews
from bot.i18n import Texts, language_of
from bot.store.cases import CaseStore
from bot.store.conversations import Conversation, ConversationStore
from cards.alerts import digest_card
from cards.common import Card

log = logging.getLogger(__name__)
SENDS_AT_ONCE = 10  # alerts in flight at once (the connector pool holds 10 connections)


class Delivery:
    """Sends queued alerts to every subscribed conversation."""

    def __init__(
        self,
        conversations: ConversationStore,
        cases: CaseStore,
        outbox: Outbox,
        views: CaseViews,
        waves: WaveViews,
    ) -> None:
        self._conversations = conversations
        self._cases = cases
        self._outbox = outbox
        self._views = views
        self._waves = waves

    async def queue(self, case_id: str) -> int:
        """Queue the case's alert for every active subscription; returns how many."""
        queued = 0
        for conversation in await self._conversations.subscriptions():
            queued += await self._conversations.queue_alert(case_id, conversation.id)
        return queued

    async def deliver_pending(self) -> int:
        """Try to send every queued alert and digest once more; returns how many landed."""
        landed = await self._deliver_digests()
        loaded: dict[str, Case | None] = {}
        turns = asyncio.Semaphore(SENDS_AT_ONCE)

        async def deliver(case_id: str, conversation: Conversation) -> bool:
            if case_id not in loaded:
                loaded[case_id] = await self._cases.get(case_id)
            case = loaded[case_id]
            if case is None:
                return False
            async with turns:
                card = await self._views.card_for(
                    case, conversation.address, conversation.alert_lang
                )
                activity_id = await self._send(conversation, card)
            if activity_id is None:
                await self._conversations.alert_failed(case_id, conversation.id)
                return False
            behind = await self._conversations.alert_posted(
                case_id, conversation.id, activity_id, case.version, conversation.alert_lang
            )
            if behind:  # the case changed while the alert was on its way
                self._views.case_changed(case_id)
            return True

        pending = await self._conversations.pending_alerts()
        # Conversations side by side: the paced outbox keeps each within Teams' limits.
        sent = await asyncio.gather(*(deliver(c, conv) for c, conv, _tries in pending))
        metrics.ALERT_QUEUE.set(len(pending) - sum(sent))  # what is still queued
        return landed + sum(sent)

    async def wave(self, wave: Wave) -> int:
        """Queue the wave's card for every subscription (sent by `deliver_pending`, retried
        like single alerts, then kept true in place); returns how many were queued."""
        subscriptions = await self._conversations.subscriptions()
        for conversation in subscriptions:
            await self._conversations.queue_digest(conversation.id, list(wave.case_ids), wave.id)
        return len(subscriptions)

    async def _deliver_digests(self) -> int:
        landed = 0
        loaded: dict[str, Case | None] = {}  # every subscription's digest names the same cases
        for (
            digest_id,
            conversation,
            case_ids,
            wave_id,
        ) in await self._conversations.pending_digests():
            if wave_id is not None:
                landed += await self._deliver_wave(digest_id, conversation, wave_id)
                continue
            for case_id in case_ids:
                if case_id not in loaded:
                    loaded[case_id] = await self._cases.get(case_id)
            found = [case for case_id in case_ids if (case := loaded[case_id]) is not None]
            if not found:  # purged meanwhile: nothing left to tell
                await self._conversations.digest_done(digest_id, delivered=True)
                continue
            card = digest_card(found, t=Texts(language_of(conversation.address.locale)))
            delivered = await self._send(conversation, card) is not None
            await self._conversations.digest_done(digest_id, delivered=delivered)
            landed += delivered
        return landed

    async def _deliver_wave(self, digest_id: int, conversation: Conversation, wave_id: str) -> int:
        """Post the wave's card and remember the message, so it is kept true in place."""
        wave = await self._waves.waves.get(wave_id)
        if wave is None:  # purged meanwhile
            await self._conversations.digest_done(digest_id, delivered=True)
            return 0
        lang = conversation.alert_lang
        card = await self._waves.card_for(wave, conversation.address, lang)
        activity_id = await self._send(conversation, card)
        if activity_id is not None:
            await self._waves.waves.add_copy(
                wave_id, conversation.id, activity_id, lang, datetime.now(UTC)
            )
            self._waves.wave_changed(wave_id)  # it may have moved on while on its way
        await self._conversations.digest_done(digest_id, delivered=activity_id is not None)
        return int(activity_id is not None)

    async def _send(self, conversation: Conversation, card: Card) -> str | None:
        """Post through the paced outbox (which waits for the limits and retries what Teams
        refuses for now); None when it did not land this round."""
        try:
            posted = await self._outbox.post(conversation.address, card)
        except SendFailed as err:
            metrics.ALERT_DELIVERIES.labels("gone" if err.status == 403 else "failed").inc()
            if err.status == 403:
                log.warning(
                    "cannot post alerts here any more; subscription now inactive",
                    extra={"conversation": conversation.id, "code": err.code},
                )
                await self._conversations.deactivate(conversation.id)
            else:
                log.warning(
                    "alert not delivered; will retry next round",
                    extra={"conversation": conversation.id, "status": err.status},
                )
            return None
        metrics.ALERT_DELIVERIES.labels("delivered").inc()
        return posted
