"""The table of every feature's chat commands and card verbs, and the help generated from it.

A command's docstring is its English help line; its Dutch help line is `help.<name>` in
`bot/locales/nl.json`. Help is generated from this table, so it cannot drift from the code.
"""

from __future__ import annotations

import re

from bot.cases.model import Role
from bot.chat import alerts, audit, cases, senders
from bot.chat.context import Command, Context, Feature, Verb, normalise
from bot.chat.messages import Reply
from bot.i18n import Texts
from cards.messages import help_card


async def show_help(ctx: Context) -> Reply:
    """help — show this list"""
    return Reply(card=help_card(help_lines(ctx.t), t=ctx.t))


HELP = Feature(
    commands=(
        Command(
            "help",
            {
                "en": re.compile(r"(help|\?|commands|what can you do)"),
                "nl": re.compile(r"(hulp|wat kun je|wat kan je|commando'?s)"),
            },
            show_help,
            Role.NONE,
        ),
    )
)
# Order matters: the first command whose phrasing matches wins ("alerts on" before "alerts").
FEATURES: tuple[Feature, ...] = (
    senders.FEATURE,
    cases.FEATURE,
    audit.FEATURE,
    alerts.FEATURE,
    HELP,
)
COMMANDS: tuple[Command, ...] = tuple(c for f in FEATURES for c in f.commands)
VERBS: dict[str, Verb] = {v.name: v for f in FEATURES for v in f.verbs}


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
