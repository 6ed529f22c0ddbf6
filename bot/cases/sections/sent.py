"""How much mail the user sent in the last 24 hours (the message trace)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.cases.evidence import Count, Phrase, SectionName, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads

NAME = SectionName("sent")
HIGH_VOLUME = 200  # messages in 24 hours


@dataclass(frozen=True)
class SentFinding:
    """How much mail the user sent in the last 24 hours."""

    messages: int
    recipients: int
    external: int
    why: tuple[Why, ...] = ()
    kind: Literal["sent"] = "sent"

    def words(self) -> Phrase:
        """Messages, recipients and external recipients."""
        return Phrase(
            "fact.sent",
            {
                "count": Count(self.messages),
                "recipients": Count(self.recipients),
                "external": Count(self.external),
            },
        )


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The volume the mailbox sent; unusually much is suspicious."""
    messages = await tenant.sent_messages(who.upn, since=now - timedelta(hours=24))
    external = {m.recipient for m in messages if who.external(m.recipient)}
    why = (Why.HIGH_VOLUME,) if len(messages) >= HIGH_VOLUME else ()
    recipients = len({m.recipient for m in messages})
    return (SentFinding(len(messages), recipients, len(external), why),)


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "Sent volume (message trace)",
            "graph",
            ("ExchangeMessageTrace.Read.All",),
            used_for="Investigation: sent volume in the last 24 h",
        ),
    ),
    gather=gather,
    kinds=(SentFinding,),
)
