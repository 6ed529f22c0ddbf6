"""Feature: who is restricted. `who is blocked` and the list card's paging."""

from __future__ import annotations

from bot.chat.context import Command, Context, Feature, Verb
from bot.chat.messages import Reply
from bot.core.m365 import LISTED_SECONDS, SendersView
from bot.core.people import Role
from cards.common import Card
from cards.senders import layout, restricted_list_card
from cards.verbs import ListPage


async def list_restricted(ctx: Context) -> Reply:
    """The first page of the restricted-senders list, from the fresh view if there is one."""
    return await _page(ctx, 1, live=False)


async def list_page(ctx: Context) -> Reply:
    """Another page of the list (from the view it was read from, if still held), or Refresh
    (read live)."""
    click = ListPage.parse(ctx.data)
    if click.refresh:
        return await _page(ctx, click.page, live=True)
    return await _page(ctx, click.page, live=False, max_age=LISTED_SECONDS)


async def _page(ctx: Context, page: int, *, live: bool, max_age: float | None = None) -> Reply:
    senders = ctx.services.senders
    view = await (senders.read() if live else senders.view(max_age))
    return Reply(card=list_card(ctx, view, page))


def list_card(
    ctx: Context, view: SendersView, page: int, *, opened: frozenset[str] = frozenset()
) -> Card:
    """Page `page` of the list as read in `view`, in the admin's language, `opened` marked.
    Where the pages break is kept per list, language, time zone and minute (the rows' "N
    minutes ago" change by the minute): a page of 2,000 senders draws only its own rows."""
    budget = ctx.services.card_budget
    minute = ctx.now.replace(second=0, microsecond=0)
    key = (view.at, len(view.senders), ctx.t.lang, ctx.t.zone.key, budget, minute)
    pages = _LAYOUTS.get(key)
    if pages is None:
        pages = layout(view.senders, t=ctx.t, now=ctx.now, budget=budget)
        _LAYOUTS[key] = pages
        while len(_LAYOUTS) > LAYOUTS_KEPT:
            _LAYOUTS.pop(next(iter(_LAYOUTS)))
    return restricted_list_card(
        view.senders,
        page=page,
        t=ctx.t,
        now=ctx.now,
        budget=budget,
        as_of=view.at,
        opened=opened,
        pages=pages,
    )


LAYOUTS_KEPT = 16  # lists × languages × zones whose page breaks are kept (a few KB each)
_LAYOUTS: dict[tuple[object, ...], tuple[int, ...]] = {}


FEATURE = Feature(
    commands=(Command("list", list_restricted, Role.VIEWER),),
    verbs=(Verb("list_page", list_page, Role.VIEWER),),
)
