"""Entra ID Protection's verdict on the user (needs Entra ID P2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Phrase, SectionName, Untrusted, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads

NAME = SectionName("risk")


@dataclass(frozen=True)
class RiskFinding:
    """Entra ID Protection's verdict on the user."""

    level: str
    state: str
    why: tuple[Why, ...] = ()
    kind: Literal["risk"] = "risk"

    def words(self) -> Phrase:
        """The risk level."""
        return Phrase("fact.text", {"text": Untrusted(self.level)})


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The user's risk state; at risk or confirmed compromised is suspicious."""
    state = await tenant.risky_user(who.user_id)
    if state is None:
        return ()
    why = (Why.RISKY,) if state.state in ("atRisk", "confirmedCompromised") else ()
    return (RiskFinding(state.level, state.state, why),)


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "Risky-user state (Entra ID P2)",
            "graph",
            ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"),
            licence="Entra ID P2",
            used_for="Investigation: Entra ID Protection risk state (**needs Entra ID P2**)",
        ),
    ),
    gather=gather,
    kinds=(RiskFinding,),
)
