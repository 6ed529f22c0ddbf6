"""What every command and card verb gets (Context, Services), what a feature declares (Command,
Verb, Feature), and the validators for untrusted card data.

A feature module (bot/chat/senders.py, cases.py, audit.py, alerts.py) holds its commands, card
verbs, the role each needs and their help in both languages side by side, and exports one
`FEATURE`; the table of all of them is bot/chat/registry.py. Adding a command touches its
feature module only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Protocol

from bot.cases.service import CaseService
from bot.chat.messages import CardData, Origin, Reply, Where
from bot.chat.views import CaseViews, Viewer
from bot.core.m365 import DirectoryUser, RestrictedSender, SendersView
from bot.core.people import Actor, Address, Role
from bot.i18n import LANGUAGES, Texts, catalogue
from bot.store.audit import AuditTrail
from bot.store.conversations import ConversationStore
from cards.verbs import UPN

if TYPE_CHECKING:  # the wave feature imports this module
    from bot.cases.bulk import Bulk
    from bot.chat.waves import WaveViews


class Senders(Protocol):
    """The restricted senders as admins see them (bot/tenant/senders.py)."""

    async def view(self, max_age: float | None = None) -> SendersView:
        """The list read within `max_age` seconds (or read now)."""
        ...

    async def read(self) -> SendersView:
        """The list, read now."""
        ...

    def listed(self, upn: str) -> RestrictedSender | None:
        """The sender as the list read last shows it, if it does."""
        ...

    async def one(self, upn: str) -> tuple[RestrictedSender | None, DirectoryUser | None]:
        """One sender's entry and directory user, read now."""
        ...


@dataclass(frozen=True)
class Services:
    """What commands may use; built once at start-up."""

    senders: Senders
    cases: CaseService
    views: CaseViews
    audit: AuditTrail
    conversations: ConversationStore
    card_budget: int
    waves: WaveViews
    bulk: Bulk


@dataclass(frozen=True)
class Context:
    """One command or click: the services, the admin's language, now, who and where."""

    services: Services
    t: Texts
    now: datetime
    origin: Origin
    role: Role = Role.NONE
    args: str = ""
    data: CardData = field(default_factory=dict)
    answered_in_place: bool = False  # the answer replaces the card for the asker only

    @property
    def viewer(self) -> Viewer | None:
        """Who alone sees the answer, when only the asker does (a card replaced for them, a
        1:1 chat); None when the answer is posted where others see it too."""
        if self.answered_in_place or self.origin.address.personal:
            return self._asker()
        return None

    @property
    def post_viewer(self) -> Viewer | None:
        """Who reads a message posted here: the admin of a 1:1 chat; None anywhere shared."""
        return self._asker() if self.origin.address.personal else None

    def _asker(self) -> Viewer:
        actor = self.origin.actor
        return Viewer(self.role, frozenset(i for i in (actor.aad_object_id, actor.id) if i))

    @property
    def actor(self) -> Actor:
        """Who asked."""
        return self.origin.actor

    @property
    def where(self) -> Where:
        """The conversation asked from."""
        return self.origin.where

    @property
    def address(self) -> Address:
        """How to reach that conversation again."""
        return self.origin.address


Handler = Callable[[Context], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    """A chat command: its name, handler and the role it needs. Its phrasings (a regular
    expression per language) and help line are in the catalogues, `command.<name>.pattern` and
    `command.<name>.help`, with every other text."""

    name: str
    handler: Handler
    role: Role
    with_argument: bool = False  # the phrasings then match the raw text and capture `arg`

    @property
    def patterns(self) -> Mapping[str, re.Pattern[str]]:
        """The phrasings that call the command, per language."""
        return _patterns(self.name, self.with_argument)

    def help(self, t: Texts) -> str:
        """The command's help line in the admin's language."""
        return t(f"command.{self.name}.help", example=EXAMPLE_UPN)


EXAMPLE_UPN = "megan@contoso.com"  # help and pickers show a real address: Teams eats <upn>


@cache
def _patterns(name: str, with_argument: bool) -> Mapping[str, re.Pattern[str]]:
    flags = re.IGNORECASE if with_argument else 0  # else they match the normalised text
    key = f"command.{name}.pattern"
    return {lang: re.compile(catalogue(lang)[key], flags) for lang in LANGUAGES}


@dataclass(frozen=True)
class Verb:
    """A card button: the `verb` its action carries, its handler and the role it needs."""

    name: str
    handler: Handler
    role: Role


@dataclass(frozen=True)
class Feature:
    """One area of BlockWatch as the chat sees it."""

    commands: tuple[Command, ...] = ()
    verbs: tuple[Verb, ...] = ()


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


# ---- card data --------------------------------------------------------------------------------


def upn_arg(ctx: Context) -> str | None:
    """The command's argument when it is a user principal name."""
    upn = ctx.args.strip()
    return upn if UPN.match(upn) else None
