"""Teams' bot rate limits, enforced before sending: per conversation 7 messages per second and
60 per 30 seconds, and 50 per second per app per tenant. BlockWatch keeps a margin under each
(6 per 1.1 s and 55 per 31 s per conversation, 40 per 1.1 s for the bot), because Teams counts
when a message arrives and a message can leave a little after its turn. `PacedOutbox` puts
every proactive message (alerts, card redraws, private notes) through them, conversations side
by side (a wait for one conversation's window does not hold up another's), and retries what
Teams refuses for now (412, 429 with its Retry-After, 502-504)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.chat.outbox import Outbox, SendFailed
from bot.core.people import Actor, Address
from cards.common import Card

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = frozenset({412, 429, 502, 503, 504})


class Window:
    """At most `limit` events in any `seconds`-long window."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: deque[float] = deque()

    def delay(self, now: float) -> float:
        """How long to wait before one more event fits."""
        while self._events and now - self._events[0] >= self.seconds:
            self._events.popleft()
        if len(self._events) < self.limit:
            return 0.0
        return self.seconds - (now - self._events[0])

    def record(self, now: float) -> None:
        """Count one event at `now`."""
        self._events.append(now)


class TeamsRateLimits:
    """Waits until a message to a conversation fits every window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tenant = Window(40, 1.1)
        self._per_conversation: defaultdict[str, tuple[Window, Window]] = defaultdict(
            lambda: (Window(6, 1.1), Window(55, 31.0))
        )

    async def wait(self, conversation_id: str) -> None:
        """Wait until one more message to `conversation_id` is allowed, then count it."""
        windows = (self._tenant, *self._per_conversation[conversation_id])
        while True:
            now = self._clock()
            delay = max(w.delay(now) for w in windows)
            if delay <= 0:  # checked and counted without an await in between: no race
                for window in windows:
                    window.record(now)
                return
            await asyncio.sleep(delay)


class PacedOutbox:
    """An Outbox that waits for the rate limits and retries what Teams refuses for now."""

    def __init__(
        self, outbox: Outbox, limits: TeamsRateLimits | None = None, *, tries: int = 4
    ) -> None:
        self._outbox = outbox
        self._limits = limits or TeamsRateLimits()
        self._tries = tries

    async def post(self, address: Address, card: Card) -> str:
        """Post `card` as a new message; its id. Raises SendFailed."""
        return await self._paced(address, lambda: self._outbox.post(address, card))

    async def update(self, address: Address, message_id: str, card: Card) -> None:
        """Replace the card in message `message_id`. Raises SendFailed."""
        await self._paced(address, lambda: self._outbox.update(address, message_id, card))

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        """Send `text` to `actor` alone. Raises SendFailed."""
        await self._paced(address, lambda: self._outbox.tell(actor, address, text))

    async def _paced(self, address: Address, send: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self._tries + 1):
            await self._limits.wait(address.conversation_id)
            try:
                return await send()
            except SendFailed as err:
                if err.status not in RETRYABLE or attempt == self._tries:
                    raise
                wait = err.retry_after if err.retry_after is not None else 0.5 * 2**attempt
                log.info("Teams asked to wait", extra={"status": err.status, "wait": wait})
                await asyncio.sleep(min(wait, 30.0))
        raise AssertionError("unreachable")  # the last attempt returns or raises
