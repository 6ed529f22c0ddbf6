"""A per-user command rate limit (sliding window), so one account cannot flood the bot, the
tenant's APIs or the audit trail. It is per process: with N replicas behind a load balancer a
user gets at most N times the limit, which still bounds a flood.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """Whether a command may run; when not, how long until it may and whether this is the
    first refusal in the current window (the one worth auditing)."""

    allowed: bool
    retry_after: float = 0.0
    first_refusal: bool = False


class CommandLimit:
    """At most `limit` commands per `window` seconds per user."""

    def __init__(
        self,
        limit: int = 30,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._refused: dict[str, float] = {}  # user → when their current refusal streak began
        self._checks = 0

    def check(self, user: str) -> Verdict:
        """Count one command by `user`, or refuse it."""
        now = self._clock()
        self._checks += 1
        if self._checks % 1000 == 0:
            self._sweep(now)
        times = self._seen.setdefault(user, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) < self.limit:
            times.append(now)
            self._refused.pop(user, None)
            return Verdict(True)
        retry_after = self.window - (now - times[0])
        began = self._refused.get(user)
        first = began is None or now - began >= self.window
        if first:
            self._refused[user] = now
        return Verdict(False, retry_after=retry_after, first_refusal=first)

    @property
    def tracked(self) -> int:
        """How many users the limit currently remembers."""
        return len(self._seen)

    def _sweep(self, now: float) -> None:
        """Forget users with nothing in the window (bounds memory under many senders)."""
        for user in [u for u, t in self._seen.items() if not t or now - t[-1] >= self.window]:
            del self._seen[user]
            self._refused.pop(user, None)
