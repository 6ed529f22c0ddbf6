"""The table of every feature's chat commands and card verbs, and the help generated from it.

Each command's phrasings and help line sit side by side in the catalogues
(`command.<name>.pattern` / `.help` in bot/locales/), so help cannot drift from what the bot
understands.
"""

from __future__ import annotations

from bot.chat import alerts, audit, cases, containment, senders, waves
from bot.chat.context import Command, Context, Feature, Verb, normalise
from bot.chat.messages import Reply
from bot.core.people import Role
from bot.i18n import Texts
from cards.messages import help_card


async def show_help(ctx: Context) -> Reply:
    """The help card."""
    return Reply(card=help_card(help_lines(ctx.t), t=ctx.t))


HELP = Feature(commands=(Command("help", show_help, Role.NONE),))
# Order matters: the first command whose phrasing matches wins ("alerts on" before "alerts").
FEATURES: tuple[Feature, ...] = (
    senders.FEATURE,
    cases.FEATURE,
    audit.FEATURE,
    alerts.FEATURE,
    containment.FEATURE,
    waves.FEATURE,
    HELP,
)
COMMANDS: tuple[Command, ...] = tuple(c for f in FEATURES for c in f.commands)
VERBS: dict[str, Verb] = {v.name: v for f in FEATURES for v in f.verbs}


def help_lines(t: Texts) -> list[str]:
    """One help line per command in the admin's language."""
    return [c.help(t) for c in COMMANDS]


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
