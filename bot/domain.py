"""Domain objects: what an admin talks about, free of wire formats and SDKs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LimitType(StrEnum):
    """Which outbound limit the sender exceeded (`ExceedingLimitType` in the Reason text)."""

    EXTERNAL = "External"
    INTERNAL = "Internal"
    TOTAL = "Total"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class BlockReason:
    """The parsed `Reason` of a restricted sender (`key=value;...` text from Exchange)."""

    limit_type: LimitType
    internal_recipients: int | None
    external_recipients: int | None
    raw: str


@dataclass(frozen=True, slots=True)
class RestrictedSender:
    """A user Exchange Online has restricted from sending email, keyed by UPN."""

    upn: str
    display_name: str | None
    reason: BlockReason
    created: datetime | None
    changed: datetime | None
    temporary: bool

    @property
    def name(self) -> str:
        """The name to show: display name when known, else the UPN."""
        return self.display_name or self.upn


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """The few directory facts the cards need about a user."""

    id: str
    upn: str
    display_name: str
    mail: str | None = None
    account_enabled: bool = True


def parse_reason(raw: str | None) -> BlockReason:
    """Parse Exchange's `ExceedingLimitType=External;InternalRecipientCountToday=3;...` text."""
    text = raw or ""
    fields: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    try:
        limit = LimitType(fields.get("exceedinglimittype", "").capitalize())
    except ValueError:
        limit = LimitType.UNKNOWN
    return BlockReason(
        limit_type=limit,
        internal_recipients=_count(fields.get("internalrecipientcounttoday")),
        external_recipients=_count(fields.get("externalrecipientcounttoday")),
        raw=text,
    )


def _count(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)
