"""Delegated permissions the user granted to apps: mail access or an unverified publisher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Phrase, SectionName, Untrusted, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads

NAME = SectionName("consents")
RISKY_SCOPES = {
    "mail.read",
    "mail.readwrite",
    "mail.send",
    "mailboxsettings.readwrite",
    "files.readwrite.all",
    "full_access_as_user",
    "offline_access",
}


@dataclass(frozen=True)
class ConsentFinding:
    """Delegated permissions the user gave an app."""

    app: str
    scope: str
    publisher: str | None = None
    why: tuple[Why, ...] = ()
    kind: Literal["consent"] = "consent"

    def words(self) -> Phrase:
        """The app, and its verified publisher when it has one."""
        if self.publisher:
            return Phrase(
                "fact.consent",
                {"app": Untrusted(self.app), "publisher": Untrusted(self.publisher, 60)},
            )
        return Phrase("fact.text", {"text": Untrusted(self.app)})


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The user's OAuth consents, each with its reasons."""
    found = []
    for g in await tenant.consent_grants(who.user_id):
        scopes = {s.lower() for s in g.scope.split()}
        why = []
        if scopes & RISKY_SCOPES:
            why.append(Why.MAIL_ACCESS)
        if not g.verified_publisher:
            why.append(Why.UNVERIFIED_APP)
        found.append(ConsentFinding(g.client_name, g.scope, g.verified_publisher, tuple(why)))
    return tuple(found)


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "OAuth consents",
            "graph",
            ("Directory.Read.All", "DelegatedPermissionGrant.Read.All"),
            used_for="Investigation: OAuth consents (`oauth2PermissionGrants`) and the apps' names",
        ),
    ),
    gather=gather,
    kinds=(ConsentFinding,),
)
