"""What every command and card verb gets (Context, Services) and the restricted-list ones.

The tables of commands and verbs are in bot/registry.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.cases.service import CaseService
from bot.conversation import Actor, Reply, Where
from bot.i18n import Texts
from bot.senders import RestrictedSenders
from bot.store.conversations import ConversationStore
from cards.senders import restricted_list_card


class InvalidAction(ValueError):
    """Card data that does not fit the verb's schema (stale, forged or corrupted)."""


@dataclass(frozen=True)
class Services:
    """What commands may use; built once in app.py."""

    senders: RestrictedSenders
    cases: CaseService
    conversations: ConversationStore
    card_budget: int


@dataclass(frozen=True)
class Context:
    """One command or click: the services, the admin's language, now, and the arguments."""

    services: Services
    t: Texts
    now: datetime
    actor: Actor
    where: Where
    args: str = ""
    data: dict[str, Any] | None = None


Handler = Callable[[Context], Awaitable[Reply]]


async def list_restricted(ctx: Context) -> Reply:
    """who is blocked — list the users Exchange Online restricted from sending email"""
    senders = await ctx.services.senders.current()
    card = restricted_list_card(
        senders, page=1, t=ctx.t, now=ctx.now, budget=ctx.services.card_budget
    )
    return Reply(card=card)


@dataclass(frozen=True)
class Command:
    """A chat command: its name, the phrasings that call it per language, and its handler."""

    name: str
    patterns: dict[str, re.Pattern[str]]
    handler: Handler
    with_argument: bool = False  # patterns then match the raw text and capture `arg`


_CONTRACTIONS = {"who's": "who is", "whos": "who is", "who're": "who are"}


def normalise(text: str) -> str:
    """Lower-case, unify apostrophes, expand contractions, drop punctuation and extra space."""
    lowered = text.replace("\u2019", "'").replace("\u00a0", " ").lower().strip()
    words = [_CONTRACTIONS.get(w, w) for w in lowered.split()]
    cleaned = re.sub(r"[.!,;:¿¡]+", " ", " ".join(words))
    cleaned = re.sub(r"\?+", " ? ", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    cleaned = re.sub(
        r"^(please|pls|alsjeblieft|graag) |( please| alsjeblieft| graag)$", "", cleaned
    )
    if cleaned != "?":
        cleaned = cleaned.removesuffix(" ?").strip()
    return cleaned


# ---- card verbs -------------------------------------------------------------------------------


def _int_field(data: dict[str, Any], key: str, *, low: int, high: int) -> int:
    value = data.get(key, low)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidAction(f"{key} must be a number")
    try:
        number = int(value)
    except ValueError as err:
        raise InvalidAction(f"{key} must be a number") from err
    if not low <= number <= high:
        raise InvalidAction(f"{key} out of range")
    return number


async def list_page(ctx: Context) -> Reply:
    """Another page of the restricted-senders list (also Refresh)."""
    page = _int_field(ctx.data or {}, "page", low=1, high=10_000)
    senders = await ctx.services.senders.current()
    card = restricted_list_card(
        senders, page=page, t=ctx.t, now=ctx.now, budget=ctx.services.card_budget
    )
    return Reply(card=card)
