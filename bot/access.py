"""Who may do what: roles from Entra object ids in settings, checked on the server for every
command and card action, from the activity's `from.aadObjectId` (never from card data).

    viewer     list, status, history, audit, alerts (list), open a case
    responder  + run, retry and skip checklist steps
    approver   + release, override, approve, change alert subscriptions

Default deny: someone in no list gets a polite refusal, and the refusal is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# The Microsoft 365 Agents Playground's mock tenant and default user (demo mode only).
PLAYGROUND_TENANT = "00000000-0000-0000-0000-0000000000001"
PLAYGROUND_USER = "00000000-0000-0000-0000-0000000000020"


class Role(IntEnum):
    """Ordered: each role includes the ones below it."""

    NONE = 0
    VIEWER = 1
    RESPONDER = 2
    APPROVER = 3


@dataclass(frozen=True)
class AccessPolicy:
    """Object ids per role and the tenants whose activities are accepted."""

    viewers: frozenset[str] = frozenset()
    responders: frozenset[str] = frozenset()
    approvers: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()

    def role_of(self, object_id: str) -> Role:
        """The highest role of this Entra object id."""
        key = object_id.lower()
        if key in self.approvers:
            return Role.APPROVER
        if key in self.responders:
            return Role.RESPONDER
        if key in self.viewers:
            return Role.VIEWER
        return Role.NONE

    def tenant_allowed(self, tenant_id: str) -> bool:
        """Whether activities from this tenant are accepted (no list: any)."""
        return not self.tenants or tenant_id.lower() in self.tenants


def ids(text: str) -> frozenset[str]:
    """A comma-separated list of object ids as a set (lower case)."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())


VERB_ROLES = {
    "list_page": Role.VIEWER,
    "open_case": Role.VIEWER,
    "refresh_case": Role.VIEWER,
    "run_step": Role.RESPONDER,
    "run_recommended": Role.RESPONDER,
    "skip_step": Role.RESPONDER,
    "release": Role.APPROVER,
    "approve_release": Role.APPROVER,
}
COMMAND_ROLES = {
    "help": Role.NONE,
    "list": Role.VIEWER,
    "status": Role.VIEWER,
    "history": Role.VIEWER,
    "audit": Role.VIEWER,
    "alerts": Role.VIEWER,
    "alerts_on": Role.APPROVER,
    "alerts_off": Role.APPROVER,
}
