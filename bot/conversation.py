"""What the Teams shell hands the domain, and what the domain hands back: no botbuilder here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cards.common import Card


@dataclass(frozen=True)
class Actor:
    """Who sent the message or clicked: Teams id, Entra object id and display name."""

    id: str
    aad_object_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class Where:
    """The conversation: its id, type (personal, groupChat, channel) and tenant."""

    conversation_id: str
    conversation_type: str = "personal"
    tenant_id: str = ""


@dataclass(frozen=True)
class Message:
    """A chat message with @mentions removed."""

    text: str
    actor: Actor
    where: Where
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class CardClick:
    """A card button press: the verb and the card's (untrusted) data."""

    verb: str
    data: dict[str, Any]
    actor: Actor
    where: Where
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Reply:
    """What to show: a card (and/or plain text)."""

    card: Card | None = None
    text: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
