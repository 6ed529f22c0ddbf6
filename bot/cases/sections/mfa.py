"""Sign-in methods (MFA): those added in the last 7 days are suspicious. Graph gives phone
methods no creation date, so the directory audit log says which kinds were registered lately."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.cases.evidence import Evidence, Phrase, SectionName, Untrusted, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads
from bot.errors import BlockWatchError

NAME = SectionName("mfa")
RECENT = timedelta(days=7)


@dataclass(frozen=True)
class MethodFinding:
    """A registered sign-in method."""

    method_id: str
    method: str  # Graph's kind of method: phone, microsoftAuthenticator, email…
    label: str
    created: datetime | None = None
    why: tuple[Why, ...] = ()
    kind: Literal["method"] = "method"

    def words(self) -> Phrase:
        """The method as the tenant names it."""
        return Phrase("fact.text", {"text": Untrusted(self.label)})


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The user's sign-in methods, the recently added ones flagged."""

    async def kinds_registered() -> set[str] | None:
        try:
            return await tenant.registered_method_kinds(who.user_id, since=now - RECENT)
        except BlockWatchError:
            return None  # when undated methods were added is then unknown, not "long ago"

    methods, registered = await asyncio.gather(
        tenant.authentication_methods(who.user_id), kinds_registered()
    )
    found = []
    for m in methods:
        why: tuple[Why, ...] = ()
        if m.created is not None and now - m.created <= RECENT:
            why = (Why.RECENT_METHOD,)
        elif m.created is None and m.kind != "password":
            if registered is None:
                why = (Why.ADDED_UNKNOWN,)
            elif m.kind in registered:
                why = (Why.RECENT_METHOD,)
        found.append(MethodFinding(m.id, m.kind, m.detail or m.kind, m.created, why))
    return tuple(found)


def flagged(evidence: Evidence | None) -> list[MethodFinding]:
    """Sign-in methods the investigation flagged (the choices for 'review MFA')."""
    if evidence is None:
        return []
    return [
        f for f in evidence.findings(NAME) if isinstance(f, MethodFinding) and f.why and f.method_id
    ]


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "MFA methods",
            "graph",
            ("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"),
            used_for="Investigation: MFA methods (step 7 review)",
        ),
    ),
    gather=gather,
    kinds=(MethodFinding,),
)
