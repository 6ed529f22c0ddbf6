"""Who may do what: roles (bot.core.people.Role) from Entra object ids or security groups in
settings, checked on the server for every command and card action, from the activity's
`from.aadObjectId` (never from card data). The role each command and verb needs is declared
beside it, in its feature module.

Default deny: someone in no list gets a polite refusal, and the refusal is audited. Group
memberships are read through Graph (`transitiveMemberOf`, so nested groups count) and cached
for a few minutes; when Graph cannot answer, only the object-id lists apply (fail closed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.core.people import Role
from bot.errors import BlockWatchError

log = logging.getLogger(__name__)

# The Microsoft 365 Agents Playground's mock tenant and default user (demo mode only).
PLAYGROUND_TENANT = "00000000-0000-0000-0000-0000000000001"
PLAYGROUND_USER = "00000000-0000-0000-0000-0000000000020"


@dataclass(frozen=True)
class AccessPolicy:
    """Object ids per role and the tenants whose activities are accepted."""

    viewers: frozenset[str] = frozenset()
    responders: frozenset[str] = frozenset()
    approvers: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    viewer_groups: frozenset[str] = frozenset()
    responder_groups: frozenset[str] = frozenset()
    approver_groups: frozenset[str] = frozenset()

    def role_of(self, object_id: str) -> Role:
        """The highest role this Entra object id has by being named in a list."""
        return _highest({object_id.lower()}, self.viewers, self.responders, self.approvers)

    def role_of_groups(self, group_ids: set[str]) -> Role:
        """The highest role that membership of these groups gives."""
        return _highest(group_ids, self.viewer_groups, self.responder_groups, self.approver_groups)

    @property
    def uses_groups(self) -> bool:
        """Whether any role is given through group membership."""
        return bool(self.viewer_groups or self.responder_groups or self.approver_groups)

    def tenant_allowed(self, tenant_id: str) -> bool:
        """Whether activities from this tenant are accepted (no list: any)."""
        return not self.tenants or tenant_id.lower() in self.tenants


def _highest(
    keys: set[str], viewers: frozenset[str], responders: frozenset[str], approvers: frozenset[str]
) -> Role:
    if keys & approvers:
        return Role.APPROVER
    if keys & responders:
        return Role.RESPONDER
    if keys & viewers:
        return Role.VIEWER
    return Role.NONE


class Memberships(Protocol):
    """Reads a user's (transitive) group ids: bot.tenant.graph.users.Users."""

    async def group_ids(self, user_id: str) -> set[str]:
        """Ids of every group the user is in, nested ones included."""
        ...


class Roles:
    """The role of an actor: object-id lists first, then group memberships (cached)."""

    def __init__(
        self,
        policy: AccessPolicy,
        memberships: Memberships | None = None,
        *,
        cache_seconds: float = 300,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._memberships = memberships
        self._cache_seconds = cache_seconds
        self._max_cached = max_cached
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()

    async def role_of(self, object_id: str) -> Role:
        """The highest role of this Entra object id, by list or by group."""
        role = self.policy.role_of(object_id)
        if role is Role.APPROVER or not self.policy.uses_groups or self._memberships is None:
            return role
        groups = await self._groups(object_id)
        return max(role, self.policy.role_of_groups(groups))

    async def _groups(self, object_id: str) -> set[str]:
        key = object_id.lower()
        if not _is_object_id(key):
            return set()  # not an Entra object id: never worth asking Graph
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        assert self._memberships is not None
        try:
            groups = await self._memberships.group_ids(key)
        except BlockWatchError as err:
            log.warning(
                "could not read group memberships; only the object-id lists apply",
                extra={"error": type(err).__name__},
            )
            return set()  # fail closed, and ask again next time
        self._cache[key] = (now, groups)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return groups


def _is_object_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def ids(text: str) -> frozenset[str]:
    """A comma-separated list of object ids as a set (lower case)."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())
