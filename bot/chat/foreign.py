"""Refusals of users from other tenants, counted rather than written one by one.

Anyone in any tenant can message a bot whose app they were given; each refusal is worth knowing
about, but one audit row apiece would let another tenant write millions of rows a day into a
trail that cannot be trimmed for 30 days, burying real actions. So each replica keeps a tally
per foreign tenant and writes one row per tenant per window (FOREIGN_WINDOW_SECONDS): how many,
when the first and last came, who sent them. Tallies are written when their window ends, by the
upkeep loop, and at shutdown; at most MAX_TENANTS tenants are tallied at once, the rest together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.core.audit import AuditEvent
from bot.core.people import Actor
from bot.store.audit import AuditTrail

FOREIGN_WINDOW_SECONDS = 600.0
MAX_TENANTS = 1000
OTHER_TENANTS = "(more tenants)"
MAX_ACTIONS = 10


@dataclass
class Tally:
    """Refusals from one foreign tenant in one window."""

    tenant: str
    opened: float  # monotonic
    first_at: datetime
    first: Actor
    last_at: datetime
    last: Actor
    count: int = 0
    actions: list[str] = field(default_factory=list)

    def event(self) -> AuditEvent:
        """The one audit row this window leaves."""
        who = f"first {self.first.name or self.first.key}, last {self.last.name or self.last.key}"
        return AuditEvent(
            actor_id=self.first.key,
            actor_name=self.first.name,
            action="refused:foreign-tenant",
            target=self.tenant,
            result=f"refused x{self.count}",
            parameters={
                "count": self.count,
                "tenant": self.tenant,
                "first_at": self.first_at.isoformat(),
                "last_at": self.last_at.isoformat(),
                "first_sender": self.first.key,
                "first_sender_name": self.first.name,
                "last_sender": self.last.key,
                "last_sender_name": self.last.name,
                "actions": ", ".join(self.actions),
            },
            detail=f"{self.count} refusals from another tenant ({who})",
        )


class ForeignRefusals:
    """The tallies of this replica (see the module docstring)."""

    def __init__(
        self,
        audit: AuditTrail,
        *,
        window: float = FOREIGN_WINDOW_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._audit = audit
        self._window = window
        self._clock = clock
        self._ticks = ticks
        self._tallies: dict[str, Tally] = {}

    @property
    def pending(self) -> int:
        """Refusals counted and not yet written."""
        return sum(t.count for t in self._tallies.values())

    async def add(self, tenant: str, actor: Actor, action: str) -> None:
        """Count one refusal (writing any tally whose window has ended first)."""
        await self.flush()
        key = tenant[:64]
        if key not in self._tallies and len(self._tallies) >= MAX_TENANTS:
            key = OTHER_TENANTS
        now = self._clock()
        tally = self._tallies.get(key)
        if tally is None:
            tally = Tally(key, self._ticks(), now, actor, now, actor)
            self._tallies[key] = tally
        tally.count += 1
        tally.last, tally.last_at = actor, now
        if action[:64] not in tally.actions and len(tally.actions) < MAX_ACTIONS:
            tally.actions.append(action[:64])

    async def flush(self, *, everything: bool = False) -> None:
        """Write the tallies whose window has ended (all of them with `everything`). A tally
        whose row could not be written is kept, to be tried again (the trail logged it)."""
        due = [
            key
            for key, tally in self._tallies.items()
            if everything or self._ticks() - tally.opened >= self._window
        ]
        for key in due:
            tally = self._tallies.pop(key)
            try:
                await self._audit.record(tally.event())
            except Exception:
                self._tallies.setdefault(key, tally)
                raise
