"""Who is asking, first: the per-user rate limit, the tenant and the role, for every message and
click, before anything runs. Every refusal is audited (those of other tenants counted, one row
per tenant per window: bot/chat/foreign.py); the conversation of an admitted asker with a
BlockWatch role is remembered (for alerts, card updates and private replies)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.chat.access import Roles
from bot.chat.foreign import ForeignRefusals
from bot.chat.limits import CommandLimit
from bot.chat.messages import Origin, Where
from bot.core.audit import AuditEvent
from bot.core.people import Address, Role
from bot.store.audit import AuditTrail
from bot.store.conversations import ConversationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slowdown:
    """The asker is over the command limit: how many a minute, and seconds until the next."""

    limit: int
    seconds: int


class Gate:
    """Admits or refuses askers, and keeps the books on both."""

    def __init__(
        self,
        roles: Roles,
        limit: CommandLimit,
        audit: AuditTrail,
        conversations: ConversationStore,
        *,
        auto_subscribe: bool = False,
        foreign: ForeignRefusals | None = None,
    ) -> None:
        self._roles = roles
        self.foreign = foreign or ForeignRefusals(audit)
        self._limit = limit
        self._audit = audit
        self._conversations = conversations
        self._auto_subscribe = auto_subscribe  # demo: personal chats with the bot get alerts

    async def slowdown(self, origin: Origin, action: str) -> Slowdown | None:
        """None while `actor` is within the per-user command limit. It is checked before
        anything else: a flood of commands must not become a flood of audit rows, so only the
        first refusal of a streak is audited."""
        verdict = self._limit.check(origin.actor.key)
        if verdict.allowed:
            return None
        log.warning("command rate limit", extra={"action": action[:64]})
        if verdict.first_refusal:
            await self.refused(origin, action, f"over {self._limit.limit} a minute")
        return Slowdown(self._limit.limit, max(1, round(verdict.retry_after)))

    async def admit(self, origin: Origin, needed: Role, action: str) -> Role | None:
        """The actor's role when the tenant and that role allow `action`, else None; a refusal
        is audited, an admitted asker's conversation remembered when they hold a BlockWatch
        role (so nobody without one can redirect where alerts and card updates go)."""
        actor, where = origin.actor, origin.where
        if not self._roles.policy.tenant_allowed(where.tenant_id):
            log.warning(
                "activity from a foreign tenant refused",
                extra={"tenant": where.tenant_id[:64], "action": action[:64]},
            )
            await self.refused(origin, action, "foreign tenant")
            return None
        role = await self._roles.role_of(actor.aad_object_id)
        if role < needed:
            await self.refused(origin, action, f"needs role {needed.name.lower()}")
            return None
        if role >= Role.VIEWER:  # `help` is for anyone; where alerts go is not
            await self._remember(where, origin.address)
        return role

    async def refused(self, origin: Origin, action: str, reason: str) -> None:
        """Audit a refusal (also of forged card data and unknown verbs); another tenant's is
        counted with the rest of that tenant's."""
        actor = origin.actor
        if not self._roles.policy.tenant_allowed(origin.where.tenant_id):
            await self.foreign.add(origin.where.tenant_id, actor, action)
            return
        await self._audit.record(
            AuditEvent(
                actor_id=actor.key,
                actor_name=actor.name,
                action=f"refused:{action}",  # the audit trail cuts it to its column
                target="",
                result="refused",
                detail=reason,
            )
        )

    async def forget(self, where: Where) -> None:
        """BlockWatch was removed from a conversation: forget it and its alert subscription
        (not for another tenant's word)."""
        if self._roles.policy.tenant_allowed(where.tenant_id):
            await self._conversations.forget(where.conversation_id)

    async def _remember(self, where: Where, address: Address) -> None:
        if len(where.tenant_id) > 64:
            log.warning("not remembering a conversation with an oversized tenant id")
            return
        await self._conversations.remember(
            address,
            kind=where.conversation_type,
            subscribe_new=self._auto_subscribe and where.conversation_type == "personal",
        )
