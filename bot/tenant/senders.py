"""Restricted senders as an admin sees them: Exchange's list joined with directory names."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

from bot.errors import TenantForbidden, TenantNotFound
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.models import DirectoryUser, RestrictedSender

log = logging.getLogger(__name__)
_EPOCH = datetime.min.replace(tzinfo=UTC)


class RestrictedSenders:
    """Reads the restricted-senders list and names each sender from the directory."""

    def __init__(self, exchange: ExchangeClient, graph: GraphClient) -> None:
        self._exchange = exchange
        self._graph = graph

    async def current(self) -> list[RestrictedSender]:
        """Everyone restricted now, newest block first, with display names where known."""
        senders = await self._exchange.restricted_senders()
        users = await self._directory([s.upn for s in senders])
        named = [
            dataclasses.replace(s, display_name=users[s.upn.lower()].display_name)
            if s.upn.lower() in users
            else s
            for s in senders
        ]
        return sorted(named, key=lambda s: (s.created or _EPOCH, s.upn), reverse=True)

    async def one(self, upn: str) -> tuple[RestrictedSender | None, DirectoryUser | None]:
        """The sender's restricted-list entry (None if not restricted) and directory user."""
        sender = await self._exchange.restricted_sender(upn)
        try:
            user: DirectoryUser | None = await self._graph.users.user(upn)
        except TenantNotFound:
            user = None
        if sender is not None and user is not None:
            sender = dataclasses.replace(sender, display_name=user.display_name)
        return sender, user

    async def _directory(self, upns: list[str]) -> dict[str, DirectoryUser]:
        try:
            return await self._graph.users.users_by_upn(upns)
        except TenantForbidden as err:
            # Names are a nicety: without User.Read.All the list still works with UPNs.
            log.warning("cannot read display names", extra={"reason": str(err)})
            return {}
