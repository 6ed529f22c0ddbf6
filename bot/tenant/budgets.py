"""Microsoft's per-API rate budgets, kept before a call is made rather than learnt from 429s.

    identity protection (riskyUsers)          1 call per second, per tenant for all apps; its
                                              429s carry no Retry-After
    identity and access reports: sign-ins,    5 calls per 10 seconds, per app per tenant, one
    directory audit log (auditLogRoot) and    budget for all of them: Microsoft's table lists
    authentication methods                    auditLogRoot and authenticationMethod among the
                                              resources of the same limit
    message trace                             100 calls per 5 minutes per tenant

(Microsoft Graph service-specific throttling limits, learn.microsoft.com/graph/throttling-limits.)
A call reserves the next free slot of its budget in a sliding window and waits for it; when the
wait would be longer than the call may wait, nothing is reserved and the call is "busy" (its
section is read again later). `LocalBudgets` keeps the windows in this process; the store's
`SharedBudgets` keeps them in the database, so several replicas share one budget.

Microsoft counts a call when it arrives, and a call can leave well after its slot (a busy event
loop, a connection to open). So within a process `Pacer` also holds each call of a budget from
just before it is sent until `seconds` after its answer came back, `calls` at a time: two calls
holding the same turn then arrive at least `seconds` apart, whatever the delays.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

MAX_WAIT = 20.0  # seconds a call may wait for its turn before it counts as busy


@dataclass(frozen=True)
class Budget:
    """At most `calls` calls in any `seconds`."""

    name: str
    calls: int
    seconds: float


IDENTITY_PROTECTION = Budget("identity-protection", 1, 1.0)
REPORTS = Budget("identity-reports", 5, 10.0)
MESSAGE_TRACE = Budget("message-trace", 100, 300.0)  # per tenant (§7: shared by every app)
_PATHS = (
    (re.compile(r"^/admin/exchange/tracing/messageTraces"), MESSAGE_TRACE),
    (re.compile(r"^/identityProtection/"), IDENTITY_PROTECTION),
    (re.compile(r"^/auditLogs/(signIns|directoryAudits)"), REPORTS),
    (re.compile(r"^/users/[^/]+/authentication/"), REPORTS),
)


def window(budget: Budget) -> float:
    """The window BlockWatch keeps: 5% and a quarter second longer than Microsoft's, because a
    call leaves a little after its slot (a busy event loop, transit) and the next may not."""
    return budget.seconds * 1.05 + 0.25


def budget_for(path: str) -> Budget | None:
    """The budget a Graph path (after `/v1.0`) is counted against, if any."""
    return next((budget for pattern, budget in _PATHS if pattern.search(path)), None)


def next_slot(sends: list[float], budget: Budget, now: float) -> float:
    """When the next call may go, given the send times already reserved (oldest first)."""
    if len(sends) < budget.calls:
        return now
    return max(now, sends[-budget.calls] + window(budget))


class Budgets(Protocol):
    """Reserves calls within Microsoft's budgets."""

    async def reserve(self, budget: Budget, *, max_wait: float = MAX_WAIT) -> float | None:
        """Reserve the next call of `budget`: seconds to wait before making it, or None (and
        nothing reserved) when that would be longer than `max_wait`."""
        ...


class LocalBudgets:
    """Budgets kept in this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sends: dict[str, list[float]] = {}
        self._lock = asyncio.Lock()

    async def reserve(self, budget: Budget, *, max_wait: float = MAX_WAIT) -> float | None:
        """See `Budgets.reserve`."""
        async with self._lock:
            now = self._clock()
            sends = self._sends.setdefault(budget.name, [])
            slot = next_slot(sends, budget, now)
            if slot - now > max_wait:
                return None
            sends.append(slot)
            del sends[: -budget.calls]
            return slot - now


class Pacer:
    """Turns of each budget within this process (see the module docstring)."""

    def __init__(self) -> None:
        self._turns: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def turn(self, budget: Budget) -> AsyncIterator[None]:
        """Hold one of `budget.calls` turns for a call, until `budget.seconds` after it ends."""
        turns = self._turns.setdefault(budget.name, asyncio.Semaphore(budget.calls))
        await turns.acquire()
        try:
            yield
        finally:
            asyncio.get_running_loop().call_later(budget.seconds, turns.release)
