"""What the tenant tells us, as frozen domain objects (no wire formats): the restricted
senders, directory users and the evidence about a user's account. `bot/tenant/` builds them
from Microsoft's answers; everything else reads them."""

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
    kind: str = ""  # the leading token without "=", e.g. EmailSendingLimitExceeded


@dataclass(frozen=True, slots=True)
class RestrictedSender:
    """A user Exchange Online has restricted from sending email, keyed by UPN."""

    upn: str
    display_name: str | None
    reason: BlockReason
    created: datetime | None
    changed: datetime | None
    temporary: bool
    user_id: str | None = None  # the directory object id, when the directory was read too

    @property
    def name(self) -> str:
        """The name to show: display name when known, else the UPN."""
        return self.display_name or self.upn


LISTED_SECONDS = 600.0  # how long a list an admin may still be clicking in is trusted


@dataclass(frozen=True)
class SendersView:
    """The restricted senders as read at `at`, newest block first."""

    at: datetime
    senders: list[RestrictedSender]


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """The few directory facts the cards need about a user."""

    id: str
    upn: str
    display_name: str
    mail: str | None = None
    account_enabled: bool = True
    password_changed: datetime | None = None  # lastPasswordChangeDateTime
    on_premises_sync: bool = False  # onPremisesSyncEnabled: mastered in on-premises AD


@dataclass(frozen=True, slots=True)
class AuthMethod:
    """A registered sign-in method (password, phone, Authenticator app, …)."""

    id: str
    kind: str
    detail: str
    created: datetime | None


@dataclass(frozen=True, slots=True)
class InboxRule:
    """An inbox rule with the parts that matter when an account is compromised."""

    id: str
    name: str
    enabled: bool
    hidden: bool
    forward_to: tuple[str, ...] = ()
    redirect_to: tuple[str, ...] = ()
    forward_as_attachment_to: tuple[str, ...] = ()
    delete: bool = False
    permanent_delete: bool = False
    move_to_folder: str | None = None
    mark_as_read: bool = False
    words: tuple[str, ...] = ()
    from_addresses: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone this rule sends mail to (forward, redirect, forward as attachment)."""
        return self.forward_to + self.redirect_to + self.forward_as_attachment_to


@dataclass(frozen=True, slots=True)
class MailboxForwarding:
    """Mailbox-level forwarding (Set-Mailbox -ForwardingSmtpAddress / -ForwardingAddress)."""

    smtp_address: str | None
    forwarding_address: str | None
    deliver_and_forward: bool

    @property
    def active(self) -> bool:
        """Whether mail is forwarded at all."""
        return bool(self.smtp_address or self.forwarding_address)


@dataclass(frozen=True, slots=True)
class Delegate:
    """Someone else with FullAccess to, or SendAs on, the mailbox."""

    user: str
    rights: str


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A directory (Entra) role held by the user."""

    id: str
    role_id: str
    role_name: str
    scope: str


@dataclass(frozen=True, slots=True)
class RiskState:
    """Entra ID Protection's view of the user (needs Entra ID P2)."""

    level: str
    state: str
    detail: str
    updated: datetime | None


@dataclass(frozen=True, slots=True)
class SignIn:
    """One sign-in from the Entra sign-in log (needs Entra ID P1)."""

    at: datetime
    ip: str
    city: str
    country: str
    app: str
    error_code: int

    @property
    def succeeded(self) -> bool:
        """Whether the sign-in succeeded."""
        return self.error_code == 0


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """Delegated permissions the user (or an admin for everyone) gave an app."""

    id: str
    client_id: str
    client_name: str
    scope: str
    consent_type: str
    verified_publisher: str | None


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message in the sender's message trace."""

    at: datetime
    recipient: str
    subject: str
    status: str


@dataclass(frozen=True, slots=True)
class SecurityAlert:
    """A Microsoft Defender alert (Graph `alerts_v2`)."""

    id: str
    title: str
    created: datetime | None
    status: str
    severity: str
    upns: tuple[str, ...]


def parse_reason(raw: str | None) -> BlockReason:
    """Parse Exchange's `Reason`, e.g. `EmailSendingLimitExceeded;InternalRecipientCountToday=3;
    ExternalRecipientCountToday=812;ExceedingLimitType=External;Last MessagetraceId=…;` (a kind
    token without `=`, keys that may contain spaces, a trailing `;`, other keys for other kinds
    of block). Unknown parts are ignored; the raw text is kept."""
    text = raw or ""
    fields: dict[str, str] = {}
    kind = ""
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
        elif part.strip() and not kind:
            kind = part.strip()
    try:
        limit = LimitType(fields.get("exceedinglimittype", "").capitalize())
    except ValueError:
        limit = LimitType.UNKNOWN
    return BlockReason(
        limit_type=limit,
        internal_recipients=_count(fields.get("internalrecipientcounttoday")),
        external_recipients=_count(fields.get("externalrecipientcounttoday")),
        raw=text,
        kind=kind[:64],
    )


def _count(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)
