"""Directory (admin) roles the user holds: every one is worth a look after a compromise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Phrase, SectionName, Untrusted, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads

NAME = SectionName("roles")


@dataclass(frozen=True)
class RoleFinding:
    """A directory role the user holds (its assignment, and the role and scope to restore)."""

    assignment_id: str
    role_name: str
    why: tuple[Why, ...] = ()
    role_id: str = ""
    scope: str = "/"
    kind: Literal["role"] = "role"

    def words(self) -> Phrase:
        """The role's name."""
        return Phrase("fact.text", {"text": Untrusted(self.role_name)})


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The user's role assignments."""
    return tuple(
        RoleFinding(r.id, r.role_name, (Why.ADMIN_ROLE,), r.role_id, r.scope)
        for r in await tenant.role_assignments(who.user_id)
    )


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "Admin roles",
            "graph",
            (
                "RoleManagement.Read.Directory",
                "RoleManagement.ReadWrite.Directory",
                "Directory.Read.All",
            ),
            used_for="Investigation: admin roles",
        ),
    ),
    gather=gather,
    kinds=(RoleFinding,),
)
