"""The workflow's `Tenant` port (bot/cases/ports.py) over the Exchange and Graph clients."""

from __future__ import annotations

from datetime import datetime

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
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient


class M365Tenant:
    """Microsoft 365 for the workflow: each call goes to the client that owns it."""

    def __init__(self, exchange: ExchangeClient, graph: GraphClient) -> None:
        self.exchange = exchange
        self.graph = graph

    async def restricted_sender(self, upn: str) -> RestrictedSender | None:
        """The sender's entry on Exchange's restricted list, or None."""
        return await self.exchange.restricted_sender(upn)

    async def user(self, id_or_upn: str) -> DirectoryUser:
        """The directory user."""
        return await self.graph.users.user(id_or_upn)

    async def group_ids(self, user_id: str) -> set[str]:
        """The ids of every group the user is in, nested ones included."""
        return await self.graph.users.group_ids(user_id)

    async def inbox_rules(self, upn: str) -> list[InboxRule]:
        """The mailbox's inbox rules, hidden ones included."""
        return await self.exchange.inbox_rules(upn)

    async def mailbox_forwarding(self, upn: str) -> MailboxForwarding:
        """The mailbox's forwarding settings."""
        return await self.exchange.mailbox_forwarding(upn)

    async def delegates(self, upn: str) -> list[Delegate]:
        """Who else may read or send as the mailbox."""
        return await self.exchange.delegates(upn)

    async def authentication_methods(self, user_id: str) -> list[AuthMethod]:
        """The user's registered sign-in methods."""
        return await self.graph.signins.authentication_methods(user_id)

    async def registered_method_kinds(self, user_id: str, *, since: datetime) -> set[str]:
        """Kinds of sign-in method registered since `since` (directory audit)."""
        return await self.graph.signins.registered_method_kinds(user_id, since=since)

    async def role_assignments(self, user_id: str) -> list[RoleAssignment]:
        """The user's directory role assignments."""
        return await self.graph.access.role_assignments(user_id)

    async def risky_user(self, user_id: str) -> RiskState | None:
        """Entra ID Protection's risk state of the user (None: no record)."""
        return await self.graph.signins.risky_user(user_id)

    async def sign_ins(self, user_id: str, *, since: datetime) -> list[SignIn]:
        """The user's sign-ins since `since`."""
        return await self.graph.signins.sign_ins(user_id, since=since)

    async def consent_grants(self, user_id: str) -> list[ConsentGrant]:
        """The delegated permissions the user granted to apps."""
        return await self.graph.access.consent_grants(user_id)

    async def sent_messages(self, upn: str, *, since: datetime) -> list[SentMessage]:
        """Messages the mailbox sent since `since`."""
        return await self.graph.mail.sent_messages(upn, since=since)

    async def release_sender(self, upn: str) -> None:
        """Remove the sender from Exchange's restricted list."""
        return await self.exchange.release_sender(upn)

    async def reset_password(self, user_id: str, password: str) -> None:
        """Set a temporary password, changed at next sign-in."""
        return await self.graph.users.reset_password(user_id, password)

    async def revoke_sessions(self, user_id: str) -> None:
        """Revoke the user's refresh tokens and sessions."""
        return await self.graph.users.revoke_sessions(user_id)

    async def set_sign_in_blocked(self, user_id: str, blocked: bool) -> None:
        """Block (or allow) the user's sign-in."""
        return await self.graph.users.set_sign_in_blocked(user_id, blocked)

    async def clear_forwarding(self, upn: str) -> None:
        """Remove the mailbox's forwarding."""
        return await self.exchange.clear_forwarding(upn)

    async def disable_inbox_rule(self, upn: str, rule_id: str) -> None:
        """Disable one inbox rule."""
        return await self.exchange.disable_inbox_rule(upn, rule_id)

    async def enable_inbox_rule(self, upn: str, rule_id: str) -> None:
        """Enable one inbox rule again."""
        return await self.exchange.enable_inbox_rule(upn, rule_id)

    async def restore_forwarding(
        self, upn: str, smtp_address: str | None, forwarding_address: str | None, *, keep_copy: bool
    ) -> None:
        """Set the mailbox's forwarding as it was recorded."""
        return await self.exchange.set_forwarding(
            upn, smtp_address, forwarding_address, keep_copy=keep_copy
        )

    async def remove_role_assignment(self, assignment_id: str) -> None:
        """Remove one directory role assignment."""
        return await self.graph.access.remove_role_assignment(assignment_id)

    async def remove_authentication_method(self, user_id: str, kind: str, method_id: str) -> None:
        """Remove one sign-in method."""
        return await self.graph.signins.remove_authentication_method(user_id, kind, method_id)
