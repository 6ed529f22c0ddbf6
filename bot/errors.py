"""The errors BlockWatch raises on purpose. Foreign errors are translated once, at a boundary.

    BlockWatchError                  anything the bot can explain to an admin
    ├── TenantError                  the Microsoft 365 tenant did not do what was asked
    │   ├── TenantUnavailable        network failure, timeout, 5xx after retries
    │   │   ├── TenantThrottled      429 after retries; `retry_after` seconds if known
    │   │   └── TenantBusy           BlockWatch held the call back to stay in Microsoft's budget
    │   ├── TenantForbidden          401/403; `permission` / `licence` name what is missing
    │   │   └── NotAvailableInTenant a licence-gated API (Entra ID P1/P2) the tenant lacks
    │   ├── TenantNotFound           the user, rule or object does not exist
    │   └── TenantRequestFailed      any other error answer; `code` and `message` from the body
    ├── NotDelivered                 a private message to the admin could not be delivered
    ├── DeadlineExceeded             an operation ran out of its overall time budget
    │   └── ThrottledPastDeadline    (also a TenantThrottled) the wait asked for is too long
    ├── DatabaseUnavailable          BlockWatch's database cannot be reached (nothing was changed)
    ├── UnknownCase                  a card action names a case that does not exist (forged)
    └── CaseKeptChanging             a change lost its compare-and-set on every attempt

`problem_of` turns a known error into a `Problem`, the typed form that step details, evidence
sections and error cards store and show. The chat router turns a BlockWatchError into an error
card; anything else is a bug: it is logged with the correlation id and the admin gets a generic
message quoting that id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BlockWatchError(Exception):
    """Base class for errors an admin can be told about."""


class TenantError(BlockWatchError):
    """The tenant (Graph or Exchange Online) refused or failed a request."""

    def __init__(self, message: str, *, service: str = "", code: str = "", said: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.code = code
        self.said = said  # the service's own words, quoted to the admin where they help


class TenantUnavailable(TenantError):
    """The service could not be reached or kept failing."""


class TenantThrottled(TenantUnavailable):
    """The service kept answering 429."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        code: str = "",
        said: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, service=service, code=code, said=said)
        self.retry_after = retry_after


class TenantBusy(TenantUnavailable):
    """Microsoft's rate budget for this API is used up for longer than the call may wait: the
    call was not sent (it is tried again later)."""


class TenantForbidden(TenantError):
    """The app lacks a permission, role or licence for this call."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        code: str = "",
        said: str = "",
        permission: str = "",
        licence: str = "",
    ) -> None:
        super().__init__(message, service=service, code=code, said=said)
        self.permission = permission
        self.licence = licence


class NotAvailableInTenant(TenantForbidden):
    """A licence-gated feature (e.g. risky users need Entra ID P2) is not available."""


class TenantNotFound(TenantError):
    """The object asked for does not exist."""


class TenantRequestFailed(TenantError):
    """The service answered with an error we have no better name for."""


class NotDelivered(BlockWatchError):
    """A message for one admin (the temporary password) could not be delivered to them."""


class DeadlineExceeded(BlockWatchError):
    """An operation (with its retries) took longer than its budget."""


class ThrottledPastDeadline(TenantThrottled, DeadlineExceeded):
    """The service asked BlockWatch to wait longer than the operation's deadline allows."""


class UnknownCase(BlockWatchError):
    """A card action named a case id the store does not hold: forged or from another install."""


class DatabaseUnavailable(BlockWatchError):
    """The database refused or dropped the connection: the request changed nothing."""


class CaseKeptChanging(BlockWatchError):
    """Other changes of the case won every compare-and-set round: nothing was changed."""


class ProblemKind(StrEnum):
    """What went wrong, in the words an admin is told (catalogue key `error.<kind>`)."""

    NOT_AVAILABLE = "not_available"  # a licence the tenant lacks
    FORBIDDEN = "forbidden"  # a permission or Exchange role BlockWatch lacks
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    DEADLINE = "deadline"
    BUSY = "busy"  # BlockWatch held the call back to stay within Microsoft's rate; retried
    FAILED = "failed"  # any other refusal; `message` quotes the service
    NOT_DELIVERED = "not_delivered"  # a private message to the admin could not be delivered
    INTERRUPTED = "interrupted"  # BlockWatch stopped while the tenant was working on it
    UNEXPECTED = "unexpected"  # a bug: `reference` is the correlation id in the log
    DATABASE = "database"  # BlockWatch's own database did not answer


@dataclass(frozen=True)
class Problem:
    """A failure as it is stored and shown: its kind and the facts the sentence needs."""

    kind: ProblemKind
    service: str = ""
    missing: str = ""
    message: str = ""
    reference: str = ""

    @property
    def key(self) -> str:
        """The catalogue key of the sentence that explains it."""
        return f"error.{self.kind.value}"


def unexpected(reference: str) -> Problem:
    """A failure nobody foresaw: a bug, to be found in the log under `reference`."""
    return Problem(ProblemKind.UNEXPECTED, "BlockWatch", reference=reference)


def problem_of(err: BlockWatchError) -> Problem:
    """The stored, translatable form of a known error."""
    service = getattr(err, "service", "") or "Microsoft 365"
    said = getattr(err, "said", "")[:300]
    if isinstance(err, NotAvailableInTenant):
        return Problem(ProblemKind.NOT_AVAILABLE, service, err.licence or err.permission)
    if isinstance(err, TenantForbidden):
        return Problem(ProblemKind.FORBIDDEN, service, err.permission or err.code or "?")
    if isinstance(err, TenantBusy):
        return Problem(ProblemKind.BUSY, service)
    if isinstance(err, TenantThrottled):
        return Problem(ProblemKind.THROTTLED, service)
    if isinstance(err, TenantUnavailable):
        return Problem(ProblemKind.UNAVAILABLE, service)
    if isinstance(err, TenantNotFound):
        return Problem(ProblemKind.NOT_FOUND, service)
    if isinstance(err, DeadlineExceeded):
        return Problem(ProblemKind.DEADLINE, service)
    if isinstance(err, DatabaseUnavailable):
        return Problem(ProblemKind.DATABASE, "BlockWatch")
    if isinstance(err, CaseKeptChanging):
        return Problem(ProblemKind.BUSY, "BlockWatch")
    if isinstance(err, NotDelivered):
        return Problem(ProblemKind.NOT_DELIVERED, "Microsoft Teams", message=str(err)[:300])
    return Problem(ProblemKind.FAILED, service, message=said or str(err)[:300])
