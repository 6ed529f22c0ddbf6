"""Restricted senders as an admin sees them: Exchange's list joined with directory names.

"who is blocked" is asked often and by many admins at once; the list changes rarely. So the
list read last (by a command, Refresh or the alert watcher's poll) is kept as a view, and a
command answers from it while it is younger than `fresh_seconds` (the card says "as of" when);
Refresh reads live. Concurrent reads share one call. Directory names are kept for
NAMES_SECONDS, so a live read asks Graph only for senders it has not named recently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bot.core.m365 import LISTED_SECONDS, DirectoryUser, RestrictedSender, SendersView
from bot.errors import TenantForbidden, TenantNotFound
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient

log = logging.getLogger(__name__)
_EPOCH = datetime.min.replace(tzinfo=UTC)
NAMES_SECONDS = 600.0
MAX_NAMES = 20_000


class RestrictedSenders:
    """Reads the restricted-senders list and names each sender from the directory."""

    def __init__(
        self,
        exchange: ExchangeClient,
        graph: GraphClient,
        *,
        fresh_seconds: float = 30.0,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exchange = exchange
        self._graph = graph
        self._fresh = fresh_seconds
        self._ticks = ticks
        self._view: tuple[float, SendersView] | None = None
        self._reading: asyncio.Future[SendersView] | None = None
        self._names: dict[str, tuple[float, DirectoryUser | None]] = {}

    async def current(self) -> list[RestrictedSender]:
        """Everyone restricted now (read live), newest block first, with display names."""
        return (await self.read()).senders

    async def view(self, max_age: float | None = None) -> SendersView:
        """The last list read while it is younger than `max_age` (default: fresh_seconds),
        else a live read."""
        limit = self._fresh if max_age is None else max_age
        if self._view is not None and self._ticks() - self._view[0] < limit:
            return self._view[1]
        return await self.read()

    def listed(self, upn: str) -> RestrictedSender | None:
        """The sender as the last list read showed them, if it was read in the last
        LISTED_SECONDS (an Open click from that list needs no new read)."""
        if self._view is None or self._ticks() - self._view[0] >= LISTED_SECONDS:
            return None
        wanted = upn.lower()
        return next((s for s in self._view[1].senders if s.upn.lower() == wanted), None)

    async def read(self) -> SendersView:
        """Read the list live (joining a read already under way) and keep it as the view."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read())
            self._reading.add_done_callback(self._read_done)
        return await asyncio.shield(self._reading)

    def _read_done(self, reading: asyncio.Future[SendersView]) -> None:
        self._reading = None
        if not reading.cancelled() and reading.exception() is None:
            self._view = (self._ticks(), reading.result())

    async def _read(self) -> SendersView:
        at = datetime.now(UTC)
        senders = await self._exchange.restricted_senders()
        users = await self._named([s.upn for s in senders])
        named = [
            dataclasses.replace(
                s, display_name=users[s.upn.lower()].display_name, user_id=users[s.upn.lower()].id
            )
            if s.upn.lower() in users
            else s
            for s in senders
        ]
        ordered = sorted(named, key=lambda s: (s.created or _EPOCH, s.upn), reverse=True)
        return SendersView(at, ordered)

    async def one(self, upn: str) -> tuple[RestrictedSender | None, DirectoryUser | None]:
        """The sender's restricted-list entry (None if not restricted) and directory user."""
        sender = await self._exchange.restricted_sender(upn)
        try:
            user: DirectoryUser | None = await self._graph.users.user(upn)
        except TenantNotFound:
            user = None
        if sender is not None and user is not None:
            sender = dataclasses.replace(sender, display_name=user.display_name, user_id=user.id)
        return sender, user

    async def _named(self, upns: list[str]) -> dict[str, DirectoryUser]:
        """Directory users by lower-case UPN: recent ones from memory, the rest from Graph."""
        now = self._ticks()
        wanted = {u.lower() for u in upns}
        if len(self._names) > MAX_NAMES:  # bounded: start over rather than grow
            self._names.clear()
        stale = [
            u for u in wanted if u not in self._names or now - self._names[u][0] >= NAMES_SECONDS
        ]
        if stale:
            found = await self._directory(stale)
            for upn in stale:
                self._names[upn] = (now, found.get(upn))
        return {u: user for u in wanted if (user := self._names[u][1]) is not None}

    async def _directory(self, upns: list[str]) -> dict[str, DirectoryUser]:
        try:
            return await self._graph.users.users_by_upn(upns)
        except TenantForbidden as err:
            # Names are a nicety: without User.Read.All the list still works with UPNs.
            log.warning("cannot read display names", extra={"reason": str(err)})
            return {}
