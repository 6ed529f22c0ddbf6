"""Chat commands and card verbs: tables of small async functions that return data.

A command's docstring is its English help line; its Dutch help line is `help.<name>` in
`bot/locales/nl.json`. Help is generated from these, so it cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.i18n import Texts
from bot.senders import RestrictedSenders
from cards.messages import help_card
from cards.senders import restricted_list_card, sender_card, sender_gone_card

from .conversation import Reply


class InvalidAction(ValueError):
    """Card data that does not fit the verb's schema (stale, forged or corrupted)."""


@dataclass(frozen=True)
class Services:
    """What commands may use; built once in app.py."""

    senders: RestrictedSenders
    card_budget: int


@dataclass(frozen=True)
class Context:
    """One command or click: the services, the admin's language, now, and the arguments."""

    services: Services
    t: Texts
    now: datetime
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


async def show_help(ctx: Context) -> Reply:
    """help — show this list"""
    return Reply(card=help_card(help_lines(ctx.t), t=ctx.t))


@dataclass(frozen=True)
class Command:
    """A chat command: its name, the phrasings that call it per language, and its handler."""

    name: str
    patterns: dict[str, re.Pattern[str]]
    handler: Handler


COMMANDS: tuple[Command, ...] = (
    Command(
        "list",
        {
            "en": re.compile(
                r"(who (is|are)( currently| now)? (blocked|restricted)"
                r"|(list|show)( me)?( the| all)? (blocked|restricted)( users| senders| accounts)?"
                r"|(blocked|restricted) (users|senders|accounts|list)|blocked|restricted)"
            ),
            "nl": re.compile(
                r"(wie (is|zijn)( er)?( nu)? (geblokkeerd|beperkt)"
                r"|geblokkeerde (gebruikers|afzenders|accounts)"
                r"|(toon|lijst)( de| alle)? geblokkeerde( gebruikers| afzenders)?|geblokkeerd)"
            ),
        },
        list_restricted,
    ),
    Command(
        "help",
        {
            "en": re.compile(r"(help|\?|commands|what can you do)"),
            "nl": re.compile(r"(hulp|wat kun je|wat kan je|commando'?s)"),
        },
        show_help,
    ),
)


def help_lines(t: Texts) -> list[str]:
    """One help line per command in the admin's language."""
    if t.lang == "en":
        return [(c.handler.__doc__ or c.name).strip() for c in COMMANDS]
    return [t(f"help.{c.name}") for c in COMMANDS]


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


def match(text: str) -> tuple[Command, str] | None:
    """The command `text` asks for and the language it was asked in, or None."""
    normal = normalise(text)
    for command in COMMANDS:
        for lang, pattern in command.patterns.items():
            if pattern.fullmatch(normal):
                return command, lang
    return None


# ---- card verbs -------------------------------------------------------------------------------

_UPN = re.compile(r"^[^@\s]{1,113}@[A-Za-z0-9.-]{1,200}\.[A-Za-z]{2,63}$")


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


async def open_case(ctx: Context) -> Reply:
    """The card of one restricted sender."""
    upn = (ctx.data or {}).get("upn")
    if not isinstance(upn, str) or not _UPN.match(upn):
        raise InvalidAction("open_case needs a valid upn")
    sender, user = await ctx.services.senders.one(upn)
    if sender is None:
        return Reply(card=sender_gone_card(upn, t=ctx.t))
    return Reply(card=sender_card(sender, user, t=ctx.t, now=ctx.now))


VERBS: dict[str, Handler] = {
    "list_page": list_page,
    "open_case": open_case,
}
