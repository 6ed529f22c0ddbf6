"""The port to Teams for messages sent outside a reply: new posts (alerts), updates of posted
cards, and private notes to one admin. The Teams shell implements it (bot/teams/outbox.py)."""

from __future__ import annotations

from typing import Protocol

from bot.core.people import Actor, Address
from cards.common import Card


class SendFailed(Exception):
    """Teams refused a message: the HTTP status, its sub-code and Retry-After if any."""

    def __init__(self, status: int, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"send failed with HTTP {status} {code}".strip())
        self.status = status
        self.code = code
        self.retry_after = retry_after


class Outbox(Protocol):
    """Sends to a conversation the bot is not currently answering."""

    async def post(self, address: Address, card: Card) -> str:
        """Post `card` as a new message; its id. Raises SendFailed."""
        ...

    async def update(self, address: Address, message_id: str, card: Card) -> None:
        """Replace the card in message `message_id`. Raises SendFailed."""
        ...

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        """Send `text` to `actor` alone, in a 1:1 chat, never to a group or channel. Raises
        SendFailed when it cannot be delivered."""
        ...
