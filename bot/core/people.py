"""Who acts and where to reach them: the admin (`Actor`), their role, and a conversation's
address. Chat builds them from Teams activities; cases record them; neither needs the other."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """What an admin may do; each role includes the ones below it.

    viewer     list, status, history, audit, alerts (list), open a case
    responder  + run, retry and skip checklist steps
    approver   + release, override, approve, change alert subscriptions
    """

    NONE = 0
    VIEWER = 1
    RESPONDER = 2
    APPROVER = 3


@dataclass(frozen=True)
class Actor:
    """Who sent the message or clicked: Teams id, Entra object id and display name."""

    id: str
    aad_object_id: str = ""
    name: str = ""

    @property
    def key(self) -> str:
        """The id the audit trail and role checks use: the Entra object id when known."""
        return self.aad_object_id or self.id


@dataclass(frozen=True)
class Address:
    """How to reach a conversation again, proactively (alerts, card updates, private notes)."""

    channel_id: str
    service_url: str
    conversation_id: str
    conversation_type: str = ""
    is_group: bool = False
    tenant_id: str = ""
    conversation_name: str = ""
    bot_id: str = ""
    bot_name: str = ""
    user_id: str = ""
    user_name: str = ""
    locale: str | None = None
    user_aad_id: str = ""  # the user's Entra object id (a personal chat's one member)

    @property
    def personal(self) -> bool:
        """A 1:1 chat: whatever is posted here is seen by one user only."""
        return self.conversation_type == "personal" and not self.is_group
