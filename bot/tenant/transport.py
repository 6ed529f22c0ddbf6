"""The one place tenant HTTP calls are sent, retried and their failures translated.

Retries: 429, 503 and 504 (and connection errors/timeouts) are retried when the call is safe to
repeat, waiting `Retry-After` (seconds or HTTP date) when given, else capped exponential backoff
with full jitter, all within an overall deadline per operation. Mutating calls that are not
idempotent pass `safe=False` and are retried only on 429 (the service did not run them).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bot.errors import DeadlineExceeded, TenantThrottled, TenantUnavailable

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and the overall deadline of one operation."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 60.0


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse `Retry-After` given as delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int, policy: RetryPolicy) -> float:
    """Capped exponential backoff with full jitter for retry number `attempt` (1-based)."""
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


async def send(
    service: str,
    operation: str,
    attempt_once: Callable[[], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy,
    safe: bool = True,
) -> httpx.Response:
    """Run `attempt_once` until it answers something that is not worth retrying."""
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        remaining = policy.deadline - (time.monotonic() - started)
        if remaining <= 0:
            raise DeadlineExceeded(f"{service} {operation}: gave up after {policy.deadline:.0f}s")
        try:
            response = await asyncio.wait_for(attempt_once(), timeout=remaining)
        except (httpx.TransportError, TimeoutError) as err:
            if not safe or attempt == policy.attempts:
                raise TenantUnavailable(
                    f"{service} could not be reached ({type(err).__name__})", service=service
                ) from err
            delay = backoff(attempt, policy)
        else:
            if response.status_code not in RETRYABLE_STATUS:
                return response
            if (not safe and response.status_code != 429) or attempt == policy.attempts:
                return response
            hinted = retry_after_seconds(response.headers.get("Retry-After"))
            delay = hinted if hinted is not None else backoff(attempt, policy)
        if time.monotonic() - started + delay > policy.deadline:
            raise DeadlineExceeded(
                f"{service} {operation}: the next retry would pass the {policy.deadline:.0f}s "
                "deadline"
            )
        log.info(
            "retrying tenant call",
            extra={"service": service, "operation": operation, "attempt": attempt, "wait": delay},
        )
        await asyncio.sleep(delay)
    raise TenantThrottled(f"{service} {operation}: no answer after retries", service=service)
