"""Feature: who is restricted. `who is blocked` and the list card's paging."""

from __future__ import annotations

import re

from bot.cases.model import Role
from bot.chat.context import Command, Context, Feature, Verb, int_field
from bot.chat.messages import Reply
from cards.senders import restricted_list_card


async def list_restricted(ctx: Context) -> Reply:
    """The first page of the restricted-senders list."""
    return await _page(ctx, 1)


async def list_page(ctx: Context) -> Reply:
    """Another page of the restricted-senders list (also Refresh)."""
    return await _page(ctx, int_field(ctx.data, "page", low=1, high=10_000))


async def _page(ctx: Context, page: int) -> Reply:
    senders = await ctx.services.senders.current()
    card = restricted_list_card(
        senders, page=page, t=ctx.t, now=ctx.now, budget=ctx.services.card_budget
    )
    return Reply(card=card)


FEATURE = Feature(
    commands=(
        Command(
            "list",
            {
                "en": re.compile(
                    r"(who (is|are)( currently| now)? (blocked|restricted)"
                    r"|(list|show)( me)?( the| all)? (blocked|restricted)"
                    r"( users| senders| accounts)?"
                    r"|(blocked|restricted) (users|senders|accounts|list)|blocked|restricted)"
                ),
                "nl": re.compile(
                    r"(wie (is|zijn)( er)?( nu)? (geblokkeerd|beperkt)"
                    r"|geblokkeerde (gebruikers|afzenders|accounts)"
                    r"|(toon|lijst)( de| alle)? geblokkeerde( gebruikers| afzenders)?|geblokkeerd)"
                ),
            },
            list_restricted,
            Role.VIEWER,
            {
                "en": "who is blocked — list the users Exchange Online restricted from "
                "sending email",
                "nl": "wie is geblokkeerd — toon de gebruikers die Exchange Online heeft "
                "geblokkeerd voor het verzenden van e-mail",
            },
        ),
    ),
    verbs=(Verb("list_page", list_page, Role.VIEWER),),
)
