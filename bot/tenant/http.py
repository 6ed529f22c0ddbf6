"""The one place tenant HTTP calls are retried, paged and their failures translated.

Retries: 429, 503 and 504 (and connection errors/timeouts) are retried when the call is safe to
repeat, waiting `Retry-After` (seconds or HTTP date) when given, else capped exponential backoff
with full jitter, all within an overall deadline per operation. Mutating calls that are not
idempotent pass `safe=False` and are retried only on 429 (the service did not run them).
`retrying` is the loop; `send` applies it to one HTTP request and Graph's `$batch` to the
throttled requests inside a batch.

Errors: Graph and Exchange answer failures in related JSON shapes (Graph: `error.code` and
`error.message`; Exchange: the useful text in `error.details[].message`, then
`error.innererror.internalException.message`). `translate` reads both into the error tree of
bot/errors.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

from bot import metrics, untrusted
from bot.errors import (
    DeadlineExceeded,
    NotAvailableInTenant,
    TenantError,
    TenantForbidden,
    TenantNotFound,
    TenantRequestFailed,
    TenantThrottled,
    TenantUnavailable,
    ThrottledPastDeadline,
)

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 503, 504})
T = TypeVar("T")
JsonObject = dict[str, Any]  # a JSON object as a service sent it (parsed inside tenant/ only)

# Graph error codes that mean "the tenant lacks a licence" (and which one, when the code says).
LICENCE_CODES = {
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant": "Microsoft Entra ID P1",
    "NoLicense": "",
}
_NOT_A_CMDLET = "is not recognized as the name of a cmdlet"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and the overall deadline of one operation."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 60.0


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """What one try gave: its value, whether to try again, and the service's wait hint."""

    value: T
    again: bool = False
    hint: float | None = None
    throttled: bool = False  # the service said "slow down" (429), not "I am down"


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


async def retrying(
    service: str,
    operation: str,
    attempt_once: Callable[[], Awaitable[Attempt[T]]],
    *,
    policy: RetryPolicy,
    safe: bool = True,
) -> T:
    """Run `attempt_once` until it needs no retry, the attempts run out (the last value is
    returned) or the deadline would pass (DeadlineExceeded)."""
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        remaining = policy.deadline - (time.monotonic() - started)
        if remaining <= 0:
            raise DeadlineExceeded(f"{service} {operation}: gave up after {policy.deadline:.0f}s")
        try:
            outcome = await asyncio.wait_for(attempt_once(), timeout=remaining)
        except (httpx.TransportError, TimeoutError) as err:
            if not safe or attempt == policy.attempts:
                raise TenantUnavailable(
                    f"{service} could not be reached ({type(err).__name__})", service=service
                ) from err
            delay = backoff(attempt, policy)
        else:
            if not outcome.again or attempt == policy.attempts:
                return outcome.value
            delay = outcome.hint if outcome.hint is not None else backoff(attempt, policy)
            if outcome.throttled and time.monotonic() - started + delay > policy.deadline:
                raise ThrottledPastDeadline(
                    f"{service} {operation}: asked to wait {delay:.0f}s, past the deadline",
                    service=service,
                    retry_after=delay,
                )
        if time.monotonic() - started + delay > policy.deadline:
            raise DeadlineExceeded(
                f"{service} {operation}: the next retry would pass the {policy.deadline:.0f}s "
                "deadline"
            )
        metrics.UPSTREAM_RETRIES.labels(service).inc()
        log.info(
            "retrying tenant call",
            extra={"service": service, "operation": operation, "attempt": attempt, "wait": delay},
        )
        await asyncio.sleep(delay)
    raise TenantThrottled(f"{service} {operation}: no answer after retries", service=service)


async def send(
    service: str,
    operation: str,
    request_once: Callable[[], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy,
    safe: bool = True,
) -> httpx.Response:
    """Send one HTTP request with retries; the last answer is returned whatever its status."""

    async def attempt() -> Attempt[httpx.Response]:
        response = await request_once()
        status = response.status_code
        again = status in RETRYABLE_STATUS and (safe or status == 429)
        hint = retry_after_seconds(response.headers.get("Retry-After")) if again else None
        return Attempt(response, again, hint, throttled=status == 429)

    return await retrying(service, operation, attempt, policy=policy, safe=safe)


def json_object(service: str, operation: str, response: httpx.Response) -> JsonObject:
    """A successful answer's JSON object (empty when there is no body or it is no object); a
    body that is not JSON (a proxy's page, a cut-off answer) is an outage, not an empty list."""
    try:
        data = untrusted.parse(response.content) if response.content else {}
    except untrusted.NotJson as err:
        raise TenantUnavailable(
            f"{operation}: the answer could not be read ({err.reason})", service=service
        ) from None
    return data if isinstance(data, dict) else {}


async def collect(
    first_url: str, fetch: Callable[[str], Awaitable[JsonObject]]
) -> list[JsonObject]:
    """Every row of an OData collection: `value` of each page, following `@odata.nextLink`."""
    rows: list[JsonObject] = []
    url: str | None = first_url
    while url:
        data = await fetch(url)
        rows.extend(r for r in data.get("value") or [] if isinstance(r, dict))
        next_link = data.get("@odata.nextLink")
        url = next_link if isinstance(next_link, str) else None
    return rows


def error_message(body: Any) -> str:
    """The most specific message in an error body (details, inner, then top level)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("message"):
            return str(detail["message"])
    inner = error.get("innererror") or error.get("innerError") or {}
    internal = None
    if isinstance(inner, dict):  # Exchange spells it both ways
        internal = inner.get("internalexception") or inner.get("internalException")
    if isinstance(internal, dict) and internal.get("message"):
        return str(internal["message"])
    return str(error.get("message") or "")


@dataclass(frozen=True)
class Failure:
    """An error answer: status, parsed body (None if not JSON) and headers."""

    status: int
    body: Any
    headers: Mapping[str, str]
    reason: str = ""

    @classmethod
    def of(cls, response: httpx.Response) -> Failure:
        """The failure a response describes."""
        try:
            body = untrusted.parse(response.content)
        except untrusted.NotJson:
            body = None
        return cls(response.status_code, body, response.headers, response.reason_phrase)


def translate(
    service: str,
    operation: str,
    failure: Failure,
    *,
    permission: str = "",
    licence: str = "",
    role: str = "",
) -> TenantError:
    """The error-tree exception for a failed call, whatever the body (JSON in Graph's or
    Exchange's shape, empty, or NUL bytes). `permission` names what a 401 (or, without `role`, a
    403) lacks, `licence` what a licence-gated API needs, `role` the Exchange role a 403 or a
    hidden cmdlet points to."""
    error = failure.body.get("error") if isinstance(failure.body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = re.sub(r"^\|[\w.]+\|", "", error_message(failure.body))
    status = failure.status
    text = f"{operation}: {message or failure.reason or status}"
    known = {"service": service, "code": code, "said": message}
    if code in LICENCE_CODES:
        needed = LICENCE_CODES[code] or licence or "a licence"
        return NotAvailableInTenant(text, **known, licence=needed)
    if "not licensed" in message.lower():  # riskyUsers without Entra ID P2 (see LICENCE_CODES)
        return NotAvailableInTenant(text, **known, licence=licence or "a licence")
    if status == 401:
        return TenantForbidden(text, **known, permission=permission)
    if status == 403:  # authenticated, yet refused: what is missing is the role, if we know it
        return TenantForbidden(text, **known, permission=role or permission)
    if _NOT_A_CMDLET in message:
        # Remote PowerShell hides cmdlets the app's Exchange role group does not include.
        return TenantForbidden(text, **known, permission=role or permission)
    if status == 404 or "NotFound" in code or "ObjectNotFound" in message:
        return TenantNotFound(text, **known)
    if status == 429:
        retry = retry_after_seconds(failure.headers.get("Retry-After"))
        return TenantThrottled(text, **known, retry_after=retry)
    if status >= 500:
        return TenantUnavailable(text, **known)
    return TenantRequestFailed(text, **known)
