"""Messages the bot sends outside a reply (bot.chat.outbox.Outbox): alert posts, card updates
for every copy, and private notes to one admin."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters

from bot.chat.outbox import SendFailed
from bot.core.people import Actor, Address
from bot.teams.activities import card_activity, reference_of
from cards.common import Card

Callback = Callable[[TurnContext], Awaitable[None]]


class TeamsOutbox:
    """Sends through botbuilder's `continue_conversation` / `create_conversation`."""

    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def post(self, address: Address, card: Card) -> str:
        """Post `card` as a new message (alerts); returns its id, or raises SendFailed."""
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(card_activity(card))
            sent.append(str(getattr(response, "id", "") or ""))

        await self._continue(address, send)
        return sent[0] if sent else ""

    async def update(self, address: Address, message_id: str, card: Card) -> None:
        """Replace the card in message `message_id`; raises SendFailed."""

        async def update(turn_context: TurnContext) -> None:
            activity = card_activity(card)
            activity.id = message_id
            await turn_context.update_activity(activity)

        await self._continue(address, update)

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        """Send `text` to `actor` in a 1:1 chat, never into a group chat or channel."""
        # Plain text: Teams shows it exactly as written (no markdown eats `*` or `_` of a
        # temporary password, and line breaks stay).
        message = MessageFactory.text(text)
        message.text_format = "plain"
        await self.privately(actor, address, message)

    async def privately(self, actor: Actor, address: Address, message: Activity) -> None:
        """Send `message` to `actor` alone: into `address` when it is, on positive evidence, a
        1:1 chat (type personal, not a group), else into a new 1:1 chat with them."""

        async def send(turn_context: TurnContext) -> None:
            await turn_context.send_activity(message)

        if address.conversation_type == "personal" and not address.is_group:
            await self._continue(address, send)
            return
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=address.bot_id, name=address.bot_name),
            members=[ChannelAccount(id=actor.id)],
            tenant_id=address.tenant_id,
            channel_data={"tenant": {"id": address.tenant_id}},
        )
        guarded, failures = _guarded(send)
        await self._adapter.create_conversation(
            self._app_id, guarded, parameters, address.channel_id, address.service_url, None
        )
        if failures:
            raise _send_failed(failures[0]) from failures[0]

    async def _continue(self, address: Address, callback: Callback) -> None:
        guarded, failures = _guarded(callback)
        await self._adapter.continue_conversation(reference_of(address), guarded, self._app_id)
        if failures:
            raise _send_failed(failures[0]) from failures[0]


def _guarded(callback: Callback) -> tuple[Callback, list[Exception]]:
    """botbuilder runs proactive callbacks through its turn pipeline, whose error handler
    swallows failures (and posts an apology into the conversation): keep them instead."""
    failures: list[Exception] = []

    async def guarded(turn_context: TurnContext) -> None:
        try:
            await callback(turn_context)
        except Exception as err:
            failures.append(err)

    return guarded, failures


def _send_failed(err: Exception) -> SendFailed:
    """Read the HTTP status, error code and Retry-After out of a connector exception."""
    if isinstance(err, SendFailed):
        return err
    response: Any = getattr(err, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    headers = getattr(response, "headers", None) or {}
    retry = headers.get("Retry-After") if hasattr(headers, "get") else None
    code = ""
    body = getattr(response, "text", "")
    if isinstance(body, str) and '"code"' in body:
        match = re.search(r'"code"\s*:\s*"([^"]+)"', body)
        code = match[1] if match else ""
    seconds = float(retry) if isinstance(retry, str) and retry.isdigit() else None
    return SendFailed(int(status), code=code, retry_after=seconds)
