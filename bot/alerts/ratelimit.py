"""Teams' bot rate limits, enforced before sending: per conversation 7 messages per second and
60 per 30 seconds, and 50 per second per app per tenant."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable


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
        self._tenant = Window(50, 1.0)
        self._per_conversation: defaultdict[str, tuple[Window, Window]] = defaultdict(
            lambda: (Window(7, 1.0), Window(60, 30.0))
        )
        self._lock = asyncio.Lock()

    async def wait(self, conversation_id: str) -> None:
        """Block until one more message to `conversation_id` is allowed, then count it."""
        async with self._lock:
            windows = (self._tenant, *self._per_conversation[conversation_id])
            while True:
                now = self._clock()
                delay = max(w.delay(now) for w in windows)
                if delay <= 0:
                    for window in windows:
                        window.record(now)
                    return
                await asyncio.sleep(delay)
