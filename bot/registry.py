"""The tables: chat commands (with the phrasings that call them) and card verbs.

A command's docstring is its English help line; its Dutch help line is `help.<name>` in
`bot/locales/nl.json`. Help is generated from these, so it cannot drift from the code.
"""

from __future__ import annotations

import re

from bot import alert_commands, case_actions
from bot.commands import Command, Context, Handler, list_page, list_restricted, normalise
from bot.conversation import Reply
from bot.i18n import Texts
from cards.messages import help_card


async def show_help(ctx: Context) -> Reply:
    """help — show this list"""
    return Reply(card=help_card(help_lines(ctx.t), t=ctx.t))


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
        "status",
        {
            "en": re.compile(r"status\s+(?P<arg>\S+)", re.I),
            "nl": re.compile(r"toestand\s+(?P<arg>\S+)", re.I),
        },
        case_actions.status,
        with_argument=True,
    ),
    Command(
        "history",
        {
            "en": re.compile(r"history\s+(?P<arg>\S+)", re.I),
            "nl": re.compile(r"geschiedenis\s+(?P<arg>\S+)", re.I),
        },
        case_actions.history,
        with_argument=True,
    ),
    Command(
        "audit",
        {
            "en": re.compile(r"audit(\s+(?P<arg>\d{1,4}))?", re.I),
            "nl": re.compile(r"(logboek|auditlog)(\s+(?P<arg>\d{1,4}))?", re.I),
        },
        case_actions.audit,
        with_argument=True,
    ),
    Command(
        "alerts_on",
        {"en": re.compile(r"alerts? on"), "nl": re.compile(r"meldingen aan")},
        alert_commands.alerts_on,
    ),
    Command(
        "alerts_off",
        {"en": re.compile(r"alerts? off"), "nl": re.compile(r"meldingen uit")},
        alert_commands.alerts_off,
    ),
    Command(
        "alerts",
        {"en": re.compile(r"alerts?( list)?"), "nl": re.compile(r"meldingen")},
        alert_commands.alerts_list,
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

VERBS: dict[str, Handler] = {"list_page": list_page, **case_actions.CASE_VERBS}


def help_lines(t: Texts) -> list[str]:
    """One help line per command in the admin's language."""
    if t.lang == "en":
        return [(c.handler.__doc__ or c.name).strip() for c in COMMANDS]
    return [t(f"help.{c.name}") for c in COMMANDS]


def match(text: str) -> tuple[Command, str, str] | None:
    """The command `text` asks for, the language it was asked in, and its argument."""
    raw = " ".join(text.split())
    normal = normalise(text)
    for command in COMMANDS:
        for lang, pattern in command.patterns.items():
            found = pattern.fullmatch(raw if command.with_argument else normal)
            if found:
                return command, lang, (found.groupdict().get("arg") or "")
    return None
