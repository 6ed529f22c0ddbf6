"""What the Teams shell hands the conversation layer, and what it hands back: no botbuilder.

`Address` is how to reach a conversation again (Teams calls it a conversation reference); the
shell builds it from every activity and the outbox turns it back into one, so nothing else
needs to know the Bot Framework's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.people import Actor, Address
from cards.common import Card

CONVERSATION_TYPES = frozenset({"personal", "groupChat", "channel"})
CardData = dict[str, Any]  # a card action's `data`: card JSON, untrusted, validated per verb


@dataclass(frozen=True)
class Where:
    """The conversation: its id, type (personal, groupChat, channel) and tenant."""

    conversation_id: str
    conversation_type: str = "personal"
    tenant_id: str = ""


@dataclass(frozen=True)
class Origin:
    """Where a message or click came from: who, which conversation, language and time zone."""

    actor: Actor
    where: Where
    address: Address
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Message:
    """A chat message with @mentions removed."""

    text: str
    origin: Origin


@dataclass(frozen=True)
class CardClick:
    """A card button press: the verb and the card's (untrusted) data. `in_place`: answered
    by replacing the card for the clicking user only (an `Action.Execute` invoke), not by
    changing the message everyone sees (an `Action.Submit` fallback)."""

    verb: str
    data: CardData
    origin: Origin
    in_place: bool = False


@dataclass(frozen=True)
class CaseRef:
    """A case at a version: what a card message shows."""

    case_id: str
    version: int
    lang: str = ""  # the card's language


@dataclass(frozen=True)
class Reply:
    """What to show: a card (and/or plain text), and the case it shows, if any. A reply
    `for_asker_only` (a refusal or an error) never replaces a card others see; `posted` goes
    out as a message of its own (in a channel, into the thread of the card clicked)."""

    card: Card | None = None
    text: str | None = None
    shows: CaseRef | None = None
    for_asker_only: bool = False
    posted: Reply | None = None  # a new message to post as well (Open: the case card)
