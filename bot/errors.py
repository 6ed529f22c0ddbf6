"""The errors BlockWatch raises on purpose. Foreign errors are translated once, at a boundary.

    BlockWatchError                  anything the bot can explain to an admin
    ├── TenantError                  the Microsoft 365 tenant did not do what was asked
    │   ├── TenantUnavailable        network failure, timeout, 5xx after retries
    │   │   └── TenantThrottled      429 after retries; `retry_after` seconds if known
    │   ├── TenantForbidden          401/403; `permission` / `licence` name what is missing
    │   │   └── NotAvailableInTenant a licence-gated API (Entra ID P1/P2) the tenant lacks
    │   ├── TenantNotFound           the user, rule or object does not exist
    │   ├── UnblockLimitReached      Microsoft's per-user unblock limit: open a support case
    │   └── TenantRequestFailed      any other error answer; `code` and `message` from the body
    ├── DeadlineExceeded             an operation ran out of its overall time budget
    └── UnknownCase                  a card action names a case that does not exist (forged)

The Teams shell turns a BlockWatchError into an error card; anything else is a bug: it is logged
with the correlation id and the admin gets a generic message quoting that id.
"""

from __future__ import annotations


class BlockWatchError(Exception):
    """Base class for errors an admin can be told about."""


class TenantError(BlockWatchError):
    """The tenant (Graph or Exchange Online) refused or failed a request."""

    def __init__(self, message: str, *, service: str = "", code: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.code = code


class TenantUnavailable(TenantError):
    """The service could not be reached or kept failing."""


class TenantThrottled(TenantUnavailable):
    """The service kept answering 429."""

    def __init__(
        self, message: str, *, service: str = "", code: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, service=service, code=code)
        self.retry_after = retry_after


class TenantForbidden(TenantError):
    """The app lacks a permission, role or licence for this call."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        code: str = "",
        permission: str = "",
        licence: str = "",
    ) -> None:
        super().__init__(message, service=service, code=code)
        self.permission = permission
        self.licence = licence


class NotAvailableInTenant(TenantForbidden):
    """A licence-gated feature (e.g. risky users need Entra ID P2) is not available."""


class TenantNotFound(TenantError):
    """The object asked for does not exist."""


class UnblockLimitReached(TenantError):
    """Microsoft's undisclosed per-user unblock limit is reached."""


class TenantRequestFailed(TenantError):
    """The service answered with an error we have no better name for."""


class DeadlineExceeded(BlockWatchError):
    """An operation (with its retries) took longer than its budget."""


class UnknownCase(BlockWatchError):
    """A card action named a case id the store does not hold: forged or from another install."""


def describe(err: BlockWatchError) -> tuple[str, dict[str, str]]:
    """The catalogue key and values that explain a known error in any language."""
    service = getattr(err, "service", "") or "Microsoft 365"
    if isinstance(err, UnblockLimitReached):
        return "error.unblock_limit", {}
    if isinstance(err, NotAvailableInTenant):
        return "error.not_available", {"missing": err.licence or err.permission}
    if isinstance(err, TenantForbidden):
        return "error.forbidden", {"service": service, "missing": err.permission or err.code or "?"}
    if isinstance(err, TenantThrottled):
        return "error.throttled", {"service": service}
    if isinstance(err, TenantUnavailable):
        return "error.unavailable", {"service": service}
    if isinstance(err, TenantNotFound):
        return "error.not_found", {"service": service}
    if isinstance(err, DeadlineExceeded):
        return "error.deadline", {}
    return "error.failed", {"service": service, "message": str(err)[:300]}
