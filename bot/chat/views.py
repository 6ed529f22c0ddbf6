"""Case cards as admins see them: rendered per language and viewer, and kept true on every copy.

What a conversation holds for everyone is the role-neutral card; Teams asks for each viewer's
own (`refresh`, cards/case.py), and `Viewer` says whose. A 1:1 chat has one viewer, known from
its address, so its copies are drawn for that admin's role directly (clients without
user-specific views, such as the Agents Playground, show the buttons too).

Every change of a case is announced here (`case_changed`, by bot/cases/ledger.py). One redraw
per case runs at a time and repeats until every copy shows the latest version, so a burst of
changes costs one update per copy and an older card never overwrites a newer one. Updates go
through the paced outbox (Teams' rate limits, retries of 429/5xx); a copy an update missed is
caught up by the upkeep loop (`catch_up`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cases.background import Background
from bot.cases.model import Case, Notice
from bot.chat.messages import CaseRef, Reply, Where
from bot.chat.outbox import Outbox, SendFailed
from bot.core.clock import Clock
from bot.core.people import Address, Role
from bot.i18n import LANGUAGES, Texts, language_of
from bot.store.cases import CaseStore
from bot.store.claims import CardClaims
from bot.store.conversations import ConversationStore, Copy
from cards.case import render_case
from cards.common import ENVELOPE_ALLOWANCE, Card
from cards.portals import Cloud

log = logging.getLogger(__name__)

RoleOf = Callable[[str], Awaitable[Role]]  # an Entra object id's BlockWatch role
CATCH_UP_AFTER = timedelta(seconds=30)  # a copy still behind after this is redrawn by upkeep


@dataclass(frozen=True)
class Viewer:
    """The one admin a card is drawn for: their role and ids (Entra object id, Teams id)."""

    role: Role
    ids: frozenset[str] = frozenset()


async def _nobody(_object_id: str) -> Role:
    return Role.NONE


class CaseViews:
    """Renders case cards and delivers every change to every copy."""

    def __init__(
        self,
        cases: CaseStore,
        conversations: ConversationStore,
        claims: CardClaims,
        outbox: Outbox,
        background: Background,
        *,
        clock: Clock,
        budget: int,
        role_of: RoleOf = _nobody,
        cloud: Cloud = Cloud.PUBLIC,
    ) -> None:
        self._cloud = cloud
        self._cases = cases
        self._role_of = role_of
        self._conversations = conversations
        self._claims = claims
        self._outbox = outbox
        self._background = background
        self._clock = clock
        self._budget = budget
        self._redrawing: set[str] = set()
        self._again: set[str] = set()
        self.also: list[Callable[[str], None]] = []  # told of every case change too (waves)

    async def card(
        self, case: Case, t: Texts, *, viewer: Viewer | None = None, notice: Notice | None = None
    ) -> Card:
        """The case card in language `t` as `viewer` sees it now (None: the role-neutral card
        a conversation shares)."""
        previous = None
        if case.previous_case_id:
            earlier = await self._cases.get(case.previous_case_id)
            previous = earlier.opened_at if earlier else None
        return render_case(
            case,
            t=t,
            now=self._clock(),
            role=viewer.role if viewer else Role.NONE,
            viewer=viewer.ids if viewer else frozenset(),
            notice=notice,
            previous_opened=previous,
            budget=self._budget - ENVELOPE_ALLOWANCE,  # room for the activity around the card
            cloud=self._cloud,
        )

    async def reply(
        self, case: Case, t: Texts, *, viewer: Viewer | None, notice: Notice | None = None
    ) -> Reply:
        """A reply showing the case card, drawn for `viewer` when only they see it (remembered
        as a copy once it is posted)."""
        card = await self.card(case, t, viewer=viewer, notice=notice)
        return Reply(card=card, shows=CaseRef(case.id, case.version, t.lang))

    async def card_for(self, case: Case, address: Address, lang: str = "") -> Card:
        """The card to post or update in a conversation (alerts, copies): for a 1:1 chat its
        admin's view, anywhere else the role-neutral card; in `lang` (the language the copy
        was posted in) or else the conversation's."""
        viewer = None
        if address.personal and address.user_aad_id:
            role = await self._role_of(address.user_aad_id)
            viewer = Viewer(role, frozenset({address.user_aad_id, address.user_id} - {""}))
        language = lang if lang in LANGUAGES else language_of(address.locale)
        return await self.card(case, Texts(language), viewer=viewer)

    async def claim_post(self, case_id: str, where: Where) -> bool:
        """Whether to post the case card in `where`: not when a message there already shows
        the case (it is kept true), nor while another click is posting it (five admins
        opening one sender in a channel get one card, not five)."""
        conversation = where.conversation_id
        if not await self._claims.claim(case_id, conversation, self._clock()):
            return False
        if await self._conversations.has_copy(case_id, conversation):  # posted before us
            await self._claims.release(case_id, conversation)
            return False
        return True

    async def shown(self, ref: CaseRef, where: Where, message_id: str) -> None:
        """Message `message_id` in `where` now shows the case (at `ref.version`); if the case
        changed while the message was on its way, the redraw that missed it comes now."""
        behind = await self._conversations.show_case(
            ref.case_id, where.conversation_id, message_id, ref.version, ref.lang
        )
        await self._claims.release(ref.case_id, where.conversation_id)
        if behind:
            self.case_changed(ref.case_id)

    def case_changed(self, case_id: str) -> None:
        """The case changed: redraw its copies soon (one redraw per case at a time)."""
        for listener in self.also:
            listener(case_id)
        if case_id in self._redrawing:
            self._again.add(case_id)
            return
        self._redrawing.add(case_id)
        self._background.spawn(self._redraw_until_current(case_id), f"redraw:{case_id}")

    async def catch_up(self, now: datetime, *, at_once: bool = False) -> None:
        """Redraw copies an earlier redraw could not update (Teams refused, a restart): those
        behind for CATCH_UP_AFTER, or, `at_once` (a replica just stopped, its redraws with
        it), every copy behind."""
        before = now if at_once else now - CATCH_UP_AFTER
        for case_id in await self._conversations.stale_copies(before):
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
        card = await self.card_for(case, conversation.address, copy.lang)
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
