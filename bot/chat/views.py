"""Case cards as admins see them: rendered per language (and role), and kept true on every copy.

The case service announces a changed case (`case_changed`); this component renders the card for
each message that shows it and replaces it through the outbox. Replies that show a case are
recorded here too (`shown`), so the next change reaches them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.cases.model import Case, Notice, Role
from bot.chat.messages import CaseRef, Reply, Where
from bot.chat.outbox import Outbox
from bot.i18n import Texts, language_of
from bot.store.cases import CaseStore
from bot.store.conversations import ConversationStore
from cards.case import render_case
from cards.common import Card

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class CaseViews:
    """Renders case cards and delivers every change to every copy."""

    def __init__(
        self,
        cases: CaseStore,
        conversations: ConversationStore,
        outbox: Outbox,
        *,
        clock: Clock,
        budget: int,
    ) -> None:
        self._cases = cases
        self._conversations = conversations
        self._outbox = outbox
        self._clock = clock
        self._budget = budget

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

    async def case_changed(self, case: Case) -> None:
        """Redraw the case's card in every message that shows it."""
        for conversation, message_id in await self._conversations.cards_of(case.id):
            card = await self.card_for(case, conversation.address.locale)
            await self._outbox.update(conversation.address, message_id, card)
            await self._conversations.show_case(case.id, conversation.id, message_id, case.version)
