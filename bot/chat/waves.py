"""Feature: waves. The wave card's own view per admin (`refresh_wave`, also its pages) and its
bulk actions (`bulk_contain`, `bulk_release` for approvers; `bulk_take` for responders), and
`WaveViews`, which draws the card and keeps every copy of it true: a change of any of its
cases (announced by the case views) or of its bulk action redraws it, one redraw per wave at
a time, through the paced outbox.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot import metrics
from bot.cases.background import Background
from bot.cases.model import Notice
from bot.cases.waves import BulkKind, Wave, expected_finish, floor_seconds
from bot.chat.context import Context, Feature, Verb
from bot.chat.messages import Reply
from bot.chat.outbox import Outbox, SendFailed
from bot.chat.views import RoleOf
from bot.core.clock import Clock
from bot.core.people import Address, Role
from bot.i18n import LANGUAGES, Texts, language_of
from bot.store.cases import CaseStore
from bot.store.conversations import ConversationStore
from bot.store.waves import WaveStore
from cards.common import Card
from cards.verbs import BulkContain, BulkRelease, BulkTake, InvalidAction, OnWave, RefreshWave
from cards.wave import render_wave

log = logging.getLogger(__name__)
RECENT = timedelta(days=2)  # waves whose cards still follow their cases


class WaveViews:
    """Draws wave cards and keeps every copy true."""

    def __init__(
        self,
        waves: WaveStore,
        cases: CaseStore,
        conversations: ConversationStore,
        outbox: Outbox,
        background: Background,
        *,
        clock: Clock,
        role_of: RoleOf,
    ) -> None:
        self.waves = waves
        self._cases = cases
        self._conversations = conversations
        self._outbox = outbox
        self._background = background
        self._clock = clock
        self._role_of = role_of
        self._redrawing: set[str] = set()
        self._again: set[str] = set()

    async def card(
        self, wave: Wave, t: Texts, *, role: Role = Role.NONE, page: int = 1, notice: str = ""
    ) -> Card:
        """The wave's card in `t`'s language as `role` may act on it (NONE: shared)."""
        cases = await self._cases.of_ids(list(wave.case_ids))
        now = self._clock()
        finish = expected_finish(wave, cases, now)
        metrics.wave(floor_seconds(len(cases)), (finish - now).total_seconds() if finish else 0)
        return render_wave(wave, cases, t=t, now=now, role=role, page=page, notice=notice or None)

    async def card_for(self, wave: Wave, address: Address, lang: str = "") -> Card:
        """The card to post or update in a conversation: a 1:1 chat's admin's view, else the
        shared card (each viewer's own comes from its `refresh`)."""
        role = Role.NONE
        if address.personal and address.user_aad_id:
            role = await self._role_of(address.user_aad_id)
        language = lang if lang in LANGUAGES else language_of(address.locale)
        return await self.card(wave, Texts(language), role=role)

    def case_changed(self, case_id: str) -> None:
        """A case changed: redraw the waves that hold it (soon, not now)."""
        self._background.spawn(self._case_changed(case_id), f"wave-of:{case_id}", daemon=True)

    async def _case_changed(self, case_id: str) -> None:
        for wave_id in await self.waves.of_case(case_id, self._clock() - RECENT):
            self.wave_changed(wave_id)

    def wave_changed(self, wave_id: str) -> None:
        """The wave changed: redraw its copies (one redraw per wave at a time)."""
        if wave_id in self._redrawing:
            self._again.add(wave_id)
            return
        self._redrawing.add(wave_id)
        self._background.spawn(self._redraw_until_current(wave_id), f"redraw-wave:{wave_id}")

    async def _redraw_until_current(self, wave_id: str) -> None:
        try:
            while True:
                self._again.discard(wave_id)
                await self._redraw(wave_id)
                if wave_id not in self._again:
                    return
        except Exception:  # the next change redraws it; a card is never worth a crash
            log.exception("could not redraw a wave card", extra={"wave": wave_id})
        finally:
            self._redrawing.discard(wave_id)

    async def catch_up(self) -> None:
        """Redraw the copies of recent waves that do not show the wave as it is (an update
        Teams refused, a replica that stopped mid-redraw): upkeep calls this every round."""
        for wave in await self.waves.recent(self._clock() - RECENT):
            now_shown = await self._state(wave)
            if any(c.shown != now_shown for c in await self.waves.copies(wave.id)):
                self.wave_changed(wave.id)

    async def _state(self, wave: Wave) -> str:
        """What a copy must show to be current: the wave's version and its cases' versions."""
        cases = await self._cases.of_ids(list(wave.case_ids))
        return f"{wave.version}.{sum(c.version for c in cases)}.{len(cases)}"

    async def _redraw(self, wave_id: str) -> None:
        wave = await self.waves.get(wave_id)
        if wave is None:
            return
        state = await self._state(wave)
        for copy in await self.waves.copies(wave_id):
            if copy.shown == state:
                continue
            conversation = await self._conversations.get(copy.conversation_id)
            if conversation is None:
                continue
            card = await self.card_for(wave, conversation.address, copy.lang)
            try:
                await self._outbox.update(conversation.address, copy.activity_id, card)
            except SendFailed as err:
                if err.status == 404:  # the message was deleted
                    await self.waves.drop_copy(wave_id, copy.conversation_id)
                    continue
                log.warning(
                    "could not update a copy of the wave card; upkeep tries again",
                    extra={"wave": wave_id, "status": err.status},
                )
                continue
            await self.waves.shown(wave_id, copy.conversation_id, state)


async def _wave(ctx: Context, wave_id: str) -> Wave:
    wave = await ctx.services.waves.waves.get(wave_id)
    if wave is None:
        raise InvalidAction("no such wave")
    return wave


async def refresh_wave(ctx: Context) -> Reply:
    """The wave's card as it is now, at a page, drawn for the admin who asks."""
    click = RefreshWave.parse(ctx.data)
    wave = await _wave(ctx, click.wave)
    return Reply(card=await ctx.services.waves.card(wave, ctx.t, role=ctx.role, page=click.page))


async def _bulk(ctx: Context, kind: BulkKind, click: OnWave) -> Reply:
    await _wave(ctx, click.wave)
    wave, notice = await ctx.services.bulk.start(click.wave, click.version, kind, ctx.actor)
    said = ctx.t((notice or Notice.BULK_STARTED).value)
    ctx.services.waves.wave_changed(wave.id)
    return Reply(card=await ctx.services.waves.card(wave, ctx.t, role=ctx.role, notice=said))


async def bulk_contain(ctx: Context) -> Reply:
    """Contain every account of the wave with strong evidence."""
    return await _bulk(ctx, BulkKind.CONTAIN, BulkContain.parse(ctx.data))


async def bulk_release(ctx: Context) -> Reply:
    """Release every contained account of the wave (each case's gate and four-eyes)."""
    return await _bulk(ctx, BulkKind.RELEASE, BulkRelease.parse(ctx.data))


async def bulk_take(ctx: Context) -> Reply:
    """Take every case of the wave nobody owns."""
    return await _bulk(ctx, BulkKind.TAKE, BulkTake.parse(ctx.data))


FEATURE = Feature(
    verbs=(
        Verb("refresh_wave", refresh_wave, Role.VIEWER),
        Verb("bulk_contain", bulk_contain, Role.APPROVER),
        Verb("bulk_release", bulk_release, Role.APPROVER),
        Verb("bulk_take", bulk_take, Role.RESPONDER),
    ),
)
