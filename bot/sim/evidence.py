"""What the simulated tenant knows about each user beyond the directory: mailbox settings,
inbox rules, delegates, sign-in methods, roles, risk, sign-ins, consents and sent mail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class SimRule:
    """An inbox rule, as Exchange stores it (hidden rules are invisible to Graph)."""

    name: str
    enabled: bool = True
    hidden: bool = False
    forward_to: list[str] = field(default_factory=list)
    redirect_to: list[str] = field(default_factory=list)
    forward_as_attachment_to: list[str] = field(default_factory=list)
    delete: bool = False
    permanent_delete: bool = False
    move_to_folder: str | None = None
    mark_as_read: bool = False
    subject_or_body_contains: list[str] = field(default_factory=list)
    subject_contains: list[str] = field(default_factory=list)
    body_contains: list[str] = field(default_factory=list)
    from_addresses: list[str] = field(default_factory=list)
    stop_processing: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4().int % 10**19))


@dataclass
class SimMethod:
    """A registered authentication method."""

    kind: str  # password, phone, microsoftAuthenticator, email, fido2
    detail: str = ""
    created: datetime | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class SimSignIn:
    """One interactive sign-in."""

    at: datetime
    ip: str
    city: str
    country: str
    app: str = "Office 365 Exchange Online"
    error_code: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class SimGrant:
    """A delegated OAuth permission grant to an app (service principal)."""

    client_id: str
    client_name: str
    scope: str
    verified_publisher: str | None = None
    consent_type: str = "Principal"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class SimTrace:
    """A message the user sent."""

    at: datetime
    recipient: str
    subject: str
    status: str = "delivered"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class UserEvidence:
    """Everything beyond the directory entry for one user."""

    forwarding_smtp: str | None = None
    forwarding_address: str | None = None
    deliver_and_forward: bool = False
    rules: list[SimRule] = field(default_factory=list)
    full_access: list[str] = field(default_factory=list)
    send_as: list[str] = field(default_factory=list)
    methods: list[SimMethod] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # role definition display names
    risk_level: str | None = None
    risk_state: str = "none"
    sign_ins: list[SimSignIn] = field(default_factory=list)
    grants: list[SimGrant] = field(default_factory=list)
    sent: list[SimTrace] = field(default_factory=list)
    password_changed: datetime | None = None
    password_sha256: str | None = None
    force_change: bool = False
    sessions_revoked: datetime | None = None
    federated: bool = False


def _ago(now: datetime, minutes: float) -> datetime:
    return now - timedelta(minutes=minutes)


def evidence_from_dict(data: dict[str, Any], now: datetime) -> UserEvidence:
    """Read one user's `evidence` block of a scenario file (times in minutes before now)."""
    ev = UserEvidence(
        forwarding_smtp=data.get("forwardingSmtpAddress"),
        forwarding_address=data.get("forwardingAddress"),
        deliver_and_forward=data.get("deliverToMailboxAndForward", False),
        full_access=list(data.get("fullAccess", [])),
        send_as=list(data.get("sendAs", [])),
        roles=list(data.get("roles", [])),
        risk_level=data.get("riskLevel"),
        risk_state=data.get("riskState", "none"),
        federated=data.get("federated", False),
    )
    for rule in data.get("rules", []):
        ev.rules.append(SimRule(**{_snake(k): v for k, v in rule.items()}))
    for method in data.get("methods", [{"kind": "password", "minutes_ago": 400 * 24 * 60}]):
        created = method.get("minutes_ago")
        ev.methods.append(
            SimMethod(
                method["kind"],
                method.get("detail", ""),
                _ago(now, created) if created is not None else None,
            )
        )
    for s in data.get("signIns", []):
        ev.sign_ins.append(
            SimSignIn(
                _ago(now, s["minutes_ago"]),
                s["ip"],
                s["city"],
                s["country"],
                s.get("app", "Office 365 Exchange Online"),
                s.get("errorCode", 0),
            )
        )
    for g in data.get("grants", []):
        ev.grants.append(
            SimGrant(g["clientId"], g["clientName"], g["scope"], g.get("verifiedPublisher"))
        )
    for batch in data.get("sent", []):
        for i in range(batch["count"]):
            recipient = batch["recipients"][i % len(batch["recipients"])]
            ev.sent.append(
                SimTrace(
                    _ago(now, batch["minutes_ago"] + i * 0.01),
                    recipient,
                    batch.get("subject", "Invoice"),
                )
            )
    return ev


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return out.lstrip("_")
