"""Who else may read the mailbox (FullAccess) or send as it (SendAs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Addresses, Phrase, SectionName, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads

NAME = SectionName("delegates")


@dataclass(frozen=True)
class DelegateFinding:
    """Someone else with FullAccess or SendAs on the mailbox."""

    user: str
    rights: str
    why: tuple[Why, ...] = ()
    kind: Literal["delegate"] = "delegate"

    def words(self) -> Phrase:
        """Who the delegate is."""
        return Phrase("fact.address", {"address": Addresses((self.user,), 1)})


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """Every delegate (each is worth a look after a compromise)."""
    return tuple(
        DelegateFinding(d.user, d.rights, (Why.DELEGATE,)) for d in await tenant.delegates(who.upn)
    )


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "Mailbox delegates (FullAccess)",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Get-MailboxPermission",
            probe="cmdlet",
            used_for="Investigation: FullAccess delegates",
        ),
        Need(
            "Mailbox delegates (SendAs)",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Get-RecipientPermission",
            probe="cmdlet",
            used_for="Investigation: SendAs delegates",
        ),
    ),
    gather=gather,
    kinds=(DelegateFinding,),
)
