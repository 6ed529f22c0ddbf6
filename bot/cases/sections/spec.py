"""What an evidence section declares about itself, in its own module (see __init__.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Finding, SectionName
from bot.cases.tenant_ports import TenantReads

Findings = tuple[Finding, ...]


@dataclass(frozen=True)
class Subject:
    """Whose evidence is read: the mailbox, the directory id, and which domains are internal."""

    upn: str
    user_id: str
    domains: frozenset[str]

    def external(self, address: str) -> bool:
        """Whether `address` is outside the organisation's domains."""
        return address.rsplit("@", 1)[-1].lower() not in self.domains


Gather = Callable[[Subject, TenantReads, datetime], Awaitable[Findings]]


@dataclass(frozen=True)
class Need:
    """What the tenant must grant for the section to be read: doctor's line for it (in
    English), the permissions any one of which grants it, the Exchange cmdlet, the licence.
    doctor checks it by reading the section (`probe="read"`), by asking Exchange whether the
    cmdlet is in the app's role (`"cmdlet"`), or by the token's roles alone (`"token"`: an
    action that cannot be tried harmlessly)."""

    label: str
    service: Literal["graph", "exchange"]
    permissions: tuple[str, ...]
    cmdlet: str = ""
    licence: str = ""
    probe: Literal["read", "cmdlet", "token"] = "read"
    used_for: str = ""  # docs/permissions.md's "Used for" column
    optional: bool = False  # doctor never requires it (e.g. only an undo uses it)


@dataclass(frozen=True)
class SectionSpec:
    """An evidence section: its name (catalogue key `section.<name>`), whether BlockWatch needs
    it to work, what it needs, how it is gathered and the kinds of finding it stores."""

    name: SectionName
    required: bool
    needs: tuple[Need, ...]
    gather: Gather
    kinds: tuple[type, ...]
