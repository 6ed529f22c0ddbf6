"""Case cards as admins see them: rendered per language (and role), and kept true on every copy.

Every change of a case is announced here (`case_changed`, by bot/cases/ledger.py). One redraw
per case runs at a time and repeats until every copy shows the latest version, so a burst of
changes costs one update per copy and an older card never overwrites a newer one. Updates go
through the paced outbox (Teams' rate limits, retries of 429/5xx); a copy an update missed is
caught up by the upkeep loop (`catch_up`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.cases.background import Background
from bot.cases.model import Case, Notice, Role
from bot.chat.messages import CaseRef, Reply, Where
from bot.chat.outbox import Outbox, SendFailed
from bot.i18n import Texts, language_of
from bot.store.cases import CaseStore
from bot.store.conversations import ConversationStore, Copy
from cards.case import render_case
from cards.common import Card

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CATCH_UP_AFTER = timedelta(seconds=30)  # a copy still behind after this is redrawn by upkeep


class CaseViews:
    """Renders case cards and delivers every change to every copy."""

    def __init__(
        self,
        cases: CaseStore,
        conversations: ConversationStore,
        outbox: Outbox,
        background: Background,
        *,
        clock: Clock,
        budget: int,
    ) -> None:
        self._cases = cases
        self._conversations = conversations
        self._outbox = outbox
        self._background = background
        self._clock = clock
        self._budget = budget
        self._redrawing: set[str] = set()
        self._again: set[str] = set()

    async def card(
        self, case: Case, t: Texts, *, role: Role = Role.APPROVER, notice: Notice | None = None
    ) -> Card:
        """The case card as someone with `role` and language `t` sees it now."""
        previous = None
        if case.previous_case_id:
            earlier = await self._cases.get(case.previous_case_id)
            previous = earlier.opened_at if earlier else None
        return render_case(
            case,
            t=t,
            now=self._clock(),
            role=role,
            notice=notice,
            previous_opened=previous,
            budget=self._budget - 2_000,  # room for the activity around the card
        )

    async def reply(self, case: Case, t: Texts, *, notice: Notice | None = None) -> Reply:
        """A reply showing the case card (remembered as a copy once it is sent)."""
        card = await self.card(case, t, notice=notice)
        return Reply(card=card, shows=CaseRef(case.id, case.version))

    async def card_for(self, case: Case, locale: str | None) -> Card:
        """The card for a conversation whose language is `locale` (alerts, copies)."""
        return await self.card(case, Texts(language_of(locale)))

    async def shown(self, ref: CaseRef, where: Where, message_id: str) -> None:
        """Message `message_id` in `where` now shows the case (at `ref.version`)."""
        await self._conversations.show_case(
            ref.case_id, where.conversation_id, message_id, ref.version
        )

    def case_changed(self, case_id: str) -> None:
        """The case changed: redraw its copies soon (one redraw per case at a time)."""
        if case_id in self._redrawing:
            self._again.add(case_id)
            return
        self._redrawing.add(case_id)
        self._background.spawn(self._redraw_until_current(case_id), f"redraw:{case_id}")

    async def catch_up(self, now: datetime) -> None:
        """Redraw copies an earlier redraw could not update (Teams refused, a restart)."""
        for case_id in await self._conversations.stale_copies(now - CATCH_UP_AFTER):
            self.case_changed(case_id)

    async def _redraw_until_current(self, case_id: str) -> None:
        try:
            while True:
                self._again.discard(case_id)
                await self._redraw(case_id)
                if case_id not in self._again:
                    return
        finally:
            self._redrawing.discard(case_id)

    async def _redraw(self, case_id: str) -> None:
        case = await self._cases.get(case_id)
        if case is None:
            return
        for copy in await self._conversations.copies(case_id):
            if copy.shown_version < case.version:
                await self._update(case, copy)

    async def _update(self, case: Case, copy: Copy) -> None:
        conversation = copy.conversation
        card = await self.card_for(case, conversation.address.locale)
        try:
            await self._outbox.update(conversation.address, copy.activity_id, card)
        except SendFailed as err:
            if err.status == 404:  # the message was deleted: nothing left to update
                await self._conversations.drop_copy(case.id, conversation.id, copy.activity_id)
                return
            log.warning(
                "could not update a copy of the case card; upkeep tries again",
                extra={"case": case.id, "status": err.status, "code": err.code},
            )
            return
        await self._conversations.show_case(
            case.id, conversation.id, copy.activity_id, case.version
        )
