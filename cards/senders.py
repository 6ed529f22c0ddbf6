"""The restricted-senders list (paged to stay under Teams' size limit) and a sender's card."""

from __future__ import annotations

from datetime import datetime

from bot.core.m365 import RestrictedSender
from bot.i18n import Texts
from cards.common import (
    ENVELOPE_ALLOWANCE,
    Card,
    adaptive_card,
    address,
    execute,
    heading,
    ours,
    shown,
    text,
    title,
    utf16_size,
)
from cards.verbs import ListPage, OpenCase


def reason_words(sender: RestrictedSender, t: Texts) -> str:
    """The block reason in the admin's words."""
    reason = sender.reason
    return t(
        f"reason.{reason.limit_type.value}",
        internal=t.number(reason.internal_recipients or 0),
        external=t.number(reason.external_recipients or 0),
    )


def since_words(sender: RestrictedSender, t: Texts, now: datetime) -> str:
    """`Blocked 47 minutes ago · 26 Nov 2026, 23:02 (UTC)`."""
    if sender.created is None:
        return t("sender.since.unknown")
    return t("sender.since", ago=t.ago(sender.created, now), when=t.when(sender.created))


def _kind_words(sender: RestrictedSender, t: Texts) -> str:
    return t("sender.temporary") if sender.temporary else t("sender.permanent")


def sender_row(
    sender: RestrictedSender, t: Texts, now: datetime, *, page: int = 1, opened: bool = False
) -> Card:
    """One sender in the list: who, why, since when, and an Open button ("Opened" once its
    case card was posted below; pressing it again posts it again)."""
    details = [
        text(shown(sender.name), weight="Bolder"),
        text(address(sender.upn, t), isSubtle=True, spacing="None", size="Small"),
        ours(reason_words(sender, t), spacing="Small", size="Small"),
        ours(since_words(sender, t, now), spacing="None", size="Small", isSubtle=True),
        ours(
            _kind_words(sender, t),
            spacing="None",
            size="Small",
            color="Warning" if not sender.temporary else "Default",
        ),
    ]
    button = {
        "type": "ActionSet",
        "actions": [
            execute(
                t("list.opened" if opened else "list.open"),
                OpenCase.button(upn=sender.upn, lang=t.lang, page=page),
            )
        ],
    }
    return {
        "type": "Container",
        "separator": True,
        "spacing": "Medium",
        "items": [
            {
                "type": "ColumnSet",
                "columns": [
                    {"type": "Column", "width": "stretch", "items": details},
                    {
                        "type": "Column",
                        "width": "auto",
                        "verticalContentAlignment": "Center",
                        "items": [button],
                    },
                ],
            }
        ],
    }


def _count_line(count: int, t: Texts) -> str:
    if count == 0:
        return t("list.count.none")
    return t("list.count.one") if count == 1 else t("list.count.many", count=t.number(count))


def _list_card(
    rows: list[Card], *, count: int, page: int, pages: int, t: Texts, as_of: datetime
) -> Card:
    body: list[Card] = [title(t("list.title"))]
    body.append(ours(_count_line(count, t), spacing="Small"))
    if count == 0:
        body.append(ours(t("list.empty.detail"), isSubtle=True))
    body.extend(rows)
    footer = t("list.as_of", time=t.when(as_of))
    if pages > 1:
        footer = t("list.page", page=page, pages=pages) + " · " + footer
    body.append(ours(footer, isSubtle=True, size="Small", separator=True))
    actions: list[Card] = []
    if page > 1:
        actions.append(execute(t("list.previous"), ListPage.button(page=page - 1, lang=t.lang)))
    if page < pages:
        actions.append(execute(t("list.next"), ListPage.button(page=page + 1, lang=t.lang)))
    refresh = ListPage.button(page=page, lang=t.lang, refresh=True)  # reads live; paging not
    actions.append(execute(t("list.refresh"), refresh))
    return adaptive_card(body, actions)


def paginate(rows: list[Card], *, frame: int, budget: int) -> list[list[Card]]:
    """Split rows into pages whose frame plus rows stay within `budget` UTF-16 bytes."""
    pages: list[list[Card]] = [[]]
    used = frame
    for row in rows:
        size = utf16_size(row) + 4  # the ", " separating it from its neighbour
        if pages[-1] and used + size > budget:
            pages.append([])
            used = frame
        pages[-1].append(row)
        used += size
    return pages


def layout(
    senders: list[RestrictedSender], *, t: Texts, now: datetime, budget: int
) -> tuple[int, ...]:
    """How many senders each page of the list holds, within `budget` bytes (every row drawn
    once to measure it: the caller may keep the result while the list and the minute last)."""
    rows = [sender_row(s, t, now, page=99_999) for s in senders]  # the widest page number
    empty = _list_card([], count=len(senders), page=999, pages=999, t=t, as_of=now)
    pages = paginate(rows, frame=utf16_size(empty), budget=budget - ENVELOPE_ALLOWANCE)
    return tuple(len(p) for p in pages)


def restricted_list_card(
    senders: list[RestrictedSender],
    *,
    page: int,
    t: Texts,
    now: datetime,
    budget: int,
    as_of: datetime | None = None,
    opened: frozenset[str] = frozenset(),
    pages: tuple[int, ...] | None = None,
) -> Card:
    """Page `page` (1-based, clamped) of the restricted-senders list as read at `as_of`
    (default: now), within `budget` bytes; rows of `opened` (lower-case UPNs) marked. `pages`
    is `layout`'s answer when the caller kept it (only the page's rows are drawn then)."""
    when = as_of or now
    sizes = pages if pages is not None else layout(senders, t=t, now=now, budget=budget)
    current = min(max(page, 1), len(sizes))
    start = sum(sizes[: current - 1])
    shown_rows = [
        sender_row(s, t, now, page=current, opened=s.upn.lower() in opened)
        for s in senders[start : start + sizes[current - 1]]
    ]
    return _list_card(
        shown_rows, count=len(senders), page=current, pages=len(sizes), t=t, as_of=when
    )


def sender_gone_card(upn: str, *, t: Texts) -> Card:
    """Shown when a sender opened from an old list is no longer restricted."""
    body = [heading(t("case.gone.title", upn=address(upn, t))), text(t("case.gone.detail"))]
    return adaptive_card(body, [execute(t("case.back"), ListPage.button(page=1, lang=t.lang))])
