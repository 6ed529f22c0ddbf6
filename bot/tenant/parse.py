"""Wire → domain: Graph and Exchange JSON into the objects of bot.core.m365."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.core.m365 import (
    AuthMethod,
    ConsentGrant,
    Delegate,
    DirectoryUser,
    InboxRule,
    MailboxForwarding,
    RestrictedSender,
    RiskState,
    RoleAssignment,
    SecurityAlert,
    SentMessage,
    SignIn,
    parse_reason,
)

_SMTP = re.compile(r"(?i)\bsmtp:([^\s\]\"']+)")
_DOTNET_DATE = re.compile(r"/Date\((-?\d+)[^)]*\)/")
SELF_PRINCIPALS = ("NT AUTHORITY\\SELF", "S-1-5-10")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (any fractional digits, Z or offset) or .NET `/Date(ms)/`; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    if match := _DOTNET_DATE.fullmatch(value):
        return datetime.fromtimestamp(int(match[1]) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def auth_method(row: dict[str, Any]) -> AuthMethod:
    """A Graph authenticationMethod."""
    kind = str(row.get("@odata.type", "")).rsplit(".", 1)[-1].removesuffix("AuthenticationMethod")
    detail = (
        row.get("phoneNumber")
        or row.get("displayName")
        or row.get("emailAddress")
        or row.get("model")
        or ""
    )
    return AuthMethod(
        str(row.get("id", "")),
        kind or "unknown",
        str(detail),
        parse_time(row.get("createdDateTime")),
    )


def _addresses(value: Any) -> tuple[str, ...]:
    """Addresses from Graph recipients or Exchange `"Name" [SMTP:x]` strings."""
    found: list[str] = []
    for item in value or []:
        if isinstance(item, dict):
            address = (item.get("emailAddress") or {}).get("address")
            if address:
                found.append(str(address).lower())
        elif isinstance(item, str):
            match = _SMTP.search(item)
            found.append((match[1] if match else item.strip().strip('"')).lower())
    return tuple(found)


def exchange_rule(row: dict[str, Any], *, hidden: bool) -> InboxRule:
    """A `Get-InboxRule` row; MoveToFolder `user:\\RSS Subscriptions` becomes the folder name."""
    folder = row.get("MoveToFolder")
    if isinstance(folder, str) and ":\\" in folder:
        folder = folder.split(":\\", 1)[1]
    return InboxRule(
        id=str(row.get("RuleIdentity") or row.get("Identity", "")),
        name=str(row.get("Name", "")),
        enabled=bool(row.get("Enabled", True)),
        hidden=hidden,
        forward_to=_addresses(row.get("ForwardTo")),
        redirect_to=_addresses(row.get("RedirectTo")),
        forward_as_attachment_to=_addresses(row.get("ForwardAsAttachmentTo")),
        delete=bool(row.get("DeleteMessage")),
        permanent_delete=bool(row.get("SoftDeleteMessage")),
        move_to_folder=folder if isinstance(folder, str) else None,
        mark_as_read=bool(row.get("MarkAsRead")),
        words=tuple(
            str(w)
            for key in ("SubjectOrBodyContainsWords", "SubjectContainsWords", "BodyContainsWords")
            for w in row.get(key) or ()
        ),
        from_addresses=_addresses(row.get("From")),
    )


def forwarding(row: dict[str, Any]) -> MailboxForwarding:
    """Forwarding fields of a `Get-Mailbox` row."""
    smtp = row.get("ForwardingSmtpAddress")
    return MailboxForwarding(
        smtp_address=str(smtp).split(":", 1)[-1].lower() if smtp else None,
        forwarding_address=str(row["ForwardingAddress"]) if row.get("ForwardingAddress") else None,
        deliver_and_forward=bool(row.get("DeliverToMailboxAndForward")),
    )


def delegates(full_access: list[dict[str, Any]], send_as: list[dict[str, Any]]) -> list[Delegate]:
    """Explicit FullAccess and SendAs grants, without SELF, inherited or denied entries."""
    found: list[Delegate] = []
    for row in full_access:
        rights = " ".join(str(r) for r in row.get("AccessRights") or [])
        user = str(row.get("User", ""))
        if (
            "FullAccess" in rights
            and user not in SELF_PRINCIPALS
            and not row.get("IsInherited")
            and not row.get("Deny")
        ):
            found.append(Delegate(user.lower(), "FullAccess"))
    for row in send_as:
        trustee = str(row.get("Trustee", ""))
        if (
            trustee not in SELF_PRINCIPALS
            and not row.get("IsInherited")
            and row.get("AccessControlType", "Allow") == "Allow"
        ):
            found.append(Delegate(trustee.lower(), "SendAs"))
    return found


def role_assignment(row: dict[str, Any]) -> RoleAssignment:
    """A unifiedRoleAssignment (with `$expand=roleDefinition`)."""
    definition = row.get("roleDefinition") or {}
    return RoleAssignment(
        str(row.get("id", "")),
        str(row.get("roleDefinitionId", "")),
        str(definition.get("displayName") or row.get("roleDefinitionId", "")),
        str(row.get("directoryScopeId", "/")),
    )


def risk_state(row: dict[str, Any]) -> RiskState:
    """A riskyUser."""
    return RiskState(
        str(row.get("riskLevel", "none")),
        str(row.get("riskState", "none")),
        str(row.get("riskDetail", "none")),
        parse_time(row.get("riskLastUpdatedDateTime")),
    )


def sign_in(row: dict[str, Any]) -> SignIn:
    """A signIn."""
    location = row.get("location") or {}
    status = row.get("status") or {}
    return SignIn(
        parse_time(row.get("createdDateTime")) or datetime.min.replace(tzinfo=UTC),
        str(row.get("ipAddress", "")),
        str(location.get("city") or ""),
        str(location.get("countryOrRegion") or ""),
        str(row.get("appDisplayName") or ""),
        int(status.get("errorCode") or 0),
    )


def consent_grant(row: dict[str, Any], principal: dict[str, Any] | None) -> ConsentGrant:
    """An oauth2PermissionGrant with the app's name and verified publisher, if known."""
    principal = principal or {}
    publisher = (principal.get("verifiedPublisher") or {}).get("displayName")
    return ConsentGrant(
        str(row.get("id", "")),
        str(row.get("clientId", "")),
        str(principal.get("displayName") or row.get("clientId", "")),
        str(row.get("scope", "")).strip(),
        str(row.get("consentType", "")),
        str(publisher) if publisher else None,
    )


def sent_message(row: dict[str, Any]) -> SentMessage:
    """An exchangeMessageTrace."""
    return SentMessage(
        parse_time(row.get("receivedDateTime")) or datetime.min.replace(tzinfo=UTC),
        str(row.get("recipientAddress", "")).lower(),
        str(row.get("subject", "")),
        str(row.get("status", "")),
    )


def security_alert(row: dict[str, Any]) -> SecurityAlert:
    """An alerts_v2 alert with the UPNs of its user and mailbox evidence."""
    upns: list[str] = []
    for evidence in row.get("evidence") or []:
        account = evidence.get("userAccount") or {}
        upn = (
            account.get("userPrincipalName")
            or evidence.get("upn")
            or evidence.get("primaryAddress")
        )
        if upn:
            upns.append(str(upn).lower())
    return SecurityAlert(
        str(row.get("id", "")),
        str(row.get("title", "")),
        parse_time(row.get("createdDateTime")),
        str(row.get("status", "")),
        str(row.get("severity", "")),
        tuple(dict.fromkeys(upns)),
    )


def restricted_sender(row: dict[str, Any]) -> RestrictedSender:
    """A `Get-BlockedSenderAddress` row."""
    return RestrictedSender(
        upn=str(row["SenderAddress"]),
        display_name=None,
        reason=parse_reason(row.get("Reason")),
        created=parse_time(row.get("CreatedDatetime")),
        changed=parse_time(row.get("ChangedDatetime")),
        temporary=bool(row.get("TemporaryBlock")),
    )


def directory_user(data: dict[str, Any]) -> DirectoryUser:
    """A Graph `user`."""
    return DirectoryUser(
        id=str(data["id"]),
        upn=str(data.get("userPrincipalName") or ""),
        display_name=str(data.get("displayName") or data.get("userPrincipalName") or ""),
        mail=data.get("mail"),
        account_enabled=bool(data.get("accountEnabled", True)),
        password_changed=parse_time(data.get("lastPasswordChangeDateTime")),
        on_premises_sync=data.get("onPremisesSyncEnabled") is True,
    )
