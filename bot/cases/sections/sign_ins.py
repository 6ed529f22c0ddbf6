"""Sign-ins of the last week (needs Entra ID P1): countries, IPs, failures, impossible travel."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.cases.evidence import Count, Finding, Phrase, SectionName, Untrusted, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads
from bot.core.m365 import SignIn

NAME = SectionName("sign_ins")
RECENT = timedelta(days=7)


@dataclass(frozen=True)
class CountriesFinding:
    """Where the user signed in from in the last week."""

    countries: tuple[str, ...]
    sign_ins: int
    failures: int
    ips: tuple[str, ...] = ()
    why: tuple[Why, ...] = ()
    kind: Literal["countries"] = "countries"

    def words(self) -> Phrase:
        """The countries, with how many sign-ins and failures."""
        return Phrase(
            "fact.countries",
            {
                "text": Untrusted(", ".join(self.countries)),
                "count": Count(self.sign_ins),
                "failures": Count(self.failures),
            },
        )


@dataclass(frozen=True)
class TravelFinding:
    """Two sign-ins too far apart to travel between in the time between them."""

    origin: str
    destination: str
    minutes: int
    why: tuple[Why, ...] = ()
    kind: Literal["travel"] = "travel"

    def words(self) -> Phrase:
        """From where to where, in how many minutes."""
        return Phrase(
            "fact.travel",
            {
                "origin": Untrusted(self.origin),
                "destination": Untrusted(self.destination),
                "minutes": self.minutes,
            },
        )


@dataclass(frozen=True)
class FailuresFinding:
    """Failed sign-ins in the last week."""

    failures: int
    why: tuple[Why, ...] = ()
    kind: Literal["failures"] = "failures"

    def words(self) -> Phrase:
        """How many sign-ins failed."""
        return Phrase("fact.failures", {"text": self.failures})


def sign_in_summary(sign_ins: list[SignIn]) -> Findings:
    """Countries, IPs and failures of the last week, and impossible travel."""
    if not sign_ins:
        return ()
    ordered = sorted(sign_ins, key=lambda s: s.at)
    countries = tuple(sorted({s.country for s in ordered if s.country}))
    failures = sum(not s.succeeded for s in ordered)
    travel = [
        (a, b)
        for a, b in itertools.pairwise(ordered)
        if a.country and b.country and a.country != b.country and b.at - a.at <= timedelta(hours=1)
    ]
    found: list[Finding] = [
        CountriesFinding(
            countries,
            sign_ins=len(ordered),
            failures=failures,
            ips=tuple(sorted({s.ip for s in ordered})[:10]),
            why=(Why.SEVERAL_COUNTRIES,) if len(countries) > 1 else (),
        )
    ]
    if travel:
        a, b = travel[-1]
        found.append(
            TravelFinding(
                a.city or a.country,
                b.city or b.country,
                minutes=int((b.at - a.at).total_seconds() // 60),
                why=(Why.IMPOSSIBLE_TRAVEL,),
            )
        )
    if failures:
        found.append(FailuresFinding(failures, (Why.FAILED_SIGN_INS,) if failures >= 3 else ()))
    return tuple(found)


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The user's sign-ins of the last week, summarised."""
    return sign_in_summary(await tenant.sign_ins(who.user_id, since=now - RECENT))


SECTION = SectionSpec(
    NAME,
    required=False,
    needs=(
        Need(
            "Sign-in log (Entra ID P1)",
            "graph",
            ("AuditLog.Read.All",),
            licence="Entra ID P1",
            used_for=(
                "Investigation: sign-ins of the last 7 days (**needs Entra ID P1**); MFA methods"
                " registered in the last 7 days (directory audit log), since Graph gives phone"
                " methods no creation date"
            ),
        ),
    ),
    gather=gather,
    kinds=(CountriesFinding, TravelFinding, FailuresFinding),
)
