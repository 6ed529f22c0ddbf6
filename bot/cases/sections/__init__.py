"""The evidence sections, one module each, in the order the case card shows them.

A section module declares everything about itself: its name (`NAME`, catalogue key
`section.<name>`), what the tenant must grant (`Need`: doctor and docs/permissions.md are built
from it), how it is gathered through the `TenantReads` port, its kinds of finding (frozen
dataclasses with a literal `kind`, stored by bot/store/codec.py), why each is suspicious, and
its words (`Finding.words`: a catalogue key and values). Investigation, doctor, the codec and the
case card iterate `SECTIONS`; adding a section is a module and a line here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.cases.evidence import Section, SectionName, SectionStatus
from bot.cases.sections import (
    consents,
    delegates,
    forwarding,
    mfa,
    risk,
    roles,
    rules,
    sent,
    sign_ins,
)
from bot.cases.sections.spec import Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads
from bot.errors import BlockWatchError, NotAvailableInTenant, problem_of

log = logging.getLogger(__name__)

__all__ = ["NAMES", "SECTIONS", "Need", "SectionSpec", "Subject", "investigate", "read_section"]

SECTIONS: tuple[SectionSpec, ...] = (
    rules.SECTION,
    forwarding.SECTION,
    delegates.SECTION,
    mfa.SECTION,
    roles.SECTION,
    risk.SECTION,
    sign_ins.SECTION,
    consents.SECTION,
    sent.SECTION,
)
NAMES: tuple[SectionName, ...] = tuple(s.name for s in SECTIONS)
_BY_NAME = {s.name: s for s in SECTIONS}


def spec(name: SectionName) -> SectionSpec:
    """The registered section `name` (KeyError for one that is not registered)."""
    return _BY_NAME[name]


async def read_section(name: SectionName, who: Subject, at: TenantReads, now: datetime) -> Section:
    """One section, read now: read (with findings), unreadable or not applicable."""
    try:
        return Section(name, SectionStatus.READ, await spec(name).gather(who, at, now))
    except NotAvailableInTenant as err:
        return Section(name, SectionStatus.NOT_APPLICABLE, problem=problem_of(err))
    except BlockWatchError as err:
        log.warning("evidence section not read", extra={"section": name, "error": str(err)})
        return Section(name, SectionStatus.UNREADABLE, problem=problem_of(err))


async def investigate(
    who: Subject, at: TenantReads, now: datetime, names: tuple[SectionName, ...] = NAMES
) -> tuple[Section, ...]:
    """The sections `names` (every one by default), read concurrently."""
    return tuple(await asyncio.gather(*[read_section(n, who, at, now) for n in names]))
