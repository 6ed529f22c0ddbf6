"""Mailbox forwarding: ForwardingSmtpAddress (external is suspicious) and ForwardingAddress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Addresses, Phrase, SectionName, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads

NAME = SectionName("forwarding")


@dataclass(frozen=True)
class ForwardingFinding:
    """Mailbox-level forwarding to an address (`smtp`: ForwardingSmtpAddress, else the
    ForwardingAddress recipient)."""

    address: str
    keep_copy: bool = False
    why: tuple[Why, ...] = ()
    smtp: bool = True
    kind: Literal["forwarding"] = "forwarding"

    def words(self) -> Phrase:
        """The address mail is forwarded to."""
        return Phrase("fact.address", {"address": Addresses((self.address,), 1)})


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The mailbox's forwarding, if any."""
    fwd = await tenant.mailbox_forwarding(who.upn)
    found = []
    if fwd.smtp_address:
        why = (Why.FORWARDS_EXTERNAL,) if who.external(fwd.smtp_address) else ()
        found.append(ForwardingFinding(fwd.smtp_address, fwd.deliver_and_forward, why))
    if fwd.forwarding_address:
        found.append(ForwardingFinding(fwd.forwarding_address, fwd.deliver_and_forward, smtp=False))
    return tuple(found)


SECTION = SectionSpec(
    NAME,
    required=True,
    needs=(
        Need(
            "Read mailbox forwarding",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Get-Mailbox",
            used_for="Read mailbox forwarding",
        ),
    ),
    gather=gather,
    kinds=(ForwardingFinding,),
)
