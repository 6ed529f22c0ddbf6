"""What the workflow reads and changes in Microsoft 365, declared here and implemented by
bot/tenant/port.py. Apart from the other ports (bot/cases/ports.py) so that the evidence
sections, which read through it, import nothing of the case model."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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
    SentMessage,
    SignIn,
)


class TenantReads(Protocol):
    """What the workflow reads in Microsoft 365 (bot/tenant/port.py)."""

    async def restricted_sender(self, upn: str) -> RestrictedSender | None:
        """The sender's entry on Exchange's restricted list, or None."""
        ...

    async def user(self, id_or_upn: str) -> DirectoryUser:
        """The directory user."""
        ...

    async def group_ids(self, user_id: str) -> set[str]:
        """The ids (lower case) of every group the user is in, nested ones included."""
        ...

    async def inbox_rules(self, upn: str) -> list[InboxRule]:
        """The mailbox's inbox rules, hidden ones included."""
        ...

    async def mailbox_forwarding(self, upn: str) -> MailboxForwarding:
        """The mailbox's forwarding settings."""
        ...

    async def delegates(self, upn: str) -> list[Delegate]:
        """Who else may read or send as the mailbox."""
        ...

    async def authentication_methods(self, user_id: str) -> list[AuthMethod]:
        """The user's registered sign-in methods."""
        ...

    async def registered_method_kinds(self, user_id: str, *, since: datetime) -> set[str]:
        """Kinds of sign-in method registered since `since` (directory audit)."""
        ...

    async def role_assignments(self, user_id: str) -> list[RoleAssignment]:
        """The user's directory role assignments."""
        ...

    async def risky_user(self, user_id: str) -> RiskState | None:
        """Entra ID Protection's risk state of the user (None: no record)."""
        ...

    async def sign_ins(self, user_id: str, *, since: datetime) -> list[SignIn]:
        """The user's sign-ins since `since`."""
        ...

    async def consent_grants(self, user_id: str) -> list[ConsentGrant]:
        """The delegated permissions the user granted to apps."""
        ...

    async def sent_messages(self, upn: str, *, since: datetime) -> list[SentMessage]:
        """Messages the mailbox sent since `since`."""
        ...


class TenantActions(Protocol):
    """What the workflow changes in Microsoft 365 (bot/tenant/port.py)."""

    async def release_sender(self, upn: str) -> None:
        """Remove the sender from Exchange's restricted list."""
        ...

    async def reset_password(self, user_id: str, password: str) -> None:
        """Set a temporary password, changed at next sign-in."""
        ...

    async def revoke_sessions(self, user_id: str) -> None:
        """Revoke the user's refresh tokens and sessions."""
        ...

    async def set_sign_in_blocked(self, user_id: str, blocked: bool) -> None:
        """Block (or allow) the user's sign-in."""
        ...

    async def clear_forwarding(self, upn: str) -> None:
        """Remove the mailbox's forwarding."""
        ...

    async def disable_inbox_rule(self, upn: str, rule_id: str) -> None:
        """Disable one inbox rule."""
        ...

    async def enable_inbox_rule(self, upn: str, rule_id: str) -> None:
        """Enable one inbox rule again."""
        ...

    async def restore_forwarding(
        self, upn: str, smtp_address: str | None, forwarding_address: str | None, *, keep_copy: bool
    ) -> None:
        """Set the mailbox's forwarding as it was recorded."""
        ...

    async def remove_role_assignment(self, assignment_id: str) -> None:
        """Remove one directory role assignment."""
        ...

    async def remove_authentication_method(self, user_id: str, kind: str, method_id: str) -> None:
        """Remove one sign-in method."""
        ...


class Tenant(TenantReads, TenantActions, Protocol):
    """Microsoft 365, as the workflow reads and changes it."""
