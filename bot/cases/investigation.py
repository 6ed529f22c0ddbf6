"""Investigation: gather the evidence of a compromise and mark what is suspicious, and why.

The result is `Evidence` (bot/cases/evidence.py): nine sections read concurrently, each read
(with findings and their reasons), unreadable (with the problem) or not applicable (a licence
the tenant lacks), so one failing section never fails the whole card.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cases.evidence import (
    ConsentFinding,
    CountriesFinding,
    DelegateFinding,
    FailuresFinding,
    Finding,
    ForwardingFinding,
    MethodFinding,
    RiskFinding,
    RoleFinding,
    RuleFinding,
    Section,
    SectionName,
    SectionStatus,
    SentFinding,
    TravelFinding,
    Why,
)
from bot.cases.ports import TenantReads
from bot.core.m365 import InboxRule, SignIn
from bot.errors import BlockWatchError, NotAvailableInTenant, problem_of

log = logging.getLogger(__name__)

HIDING_FOLDERS = {
    "rss subscriptions",
    "rss feeds",
    "notes",
    "junk email",
    "junk e-mail",
    "archive",
    "conversation history",
    "deleted items",
}
BAIT_WORDS = {
    "invoice",
    "payment",
    "password",
    "bank",
    "wire",
    "transfer",
    "hacked",
    "phishing",
    "spam",
    "suspicious",
    "urgent",
    "compromised",
}
RISKY_SCOPES = {
    "mail.read",
    "mail.readwrite",
    "mail.send",
    "mailboxsettings.readwrite",
    "files.readwrite.all",
    "full_access_as_user",
    "offline_access",
}
RECENT = timedelta(days=7)

Findings = tuple[Finding, ...]


def _external(address: str, domains: set[str]) -> bool:
    return address.rsplit("@", 1)[-1].lower() not in domains


def rule_findings(rules: list[InboxRule], domains: set[str]) -> Findings:
    """Inbox rules with reasons: external forwarding, deleting, hiding mail, bait words."""
    found = []
    for rule in rules:
        why: list[Why] = []
        if any(_external(r, domains) for r in rule.recipients):
            why.append(Why.FORWARDS_EXTERNAL)
        if rule.delete or rule.permanent_delete:
            why.append(Why.DELETES)
        if rule.move_to_folder and rule.move_to_folder.lower() in HIDING_FOLDERS:
            why.append(Why.HIDES_MAIL)
        if {w.lower() for w in rule.words} & BAIT_WORDS:
            why.append(Why.BAIT_WORDS)
        if rule.hidden:
            why.append(Why.HIDDEN)
        found.append(
            RuleFinding(
                rule_id=rule.id,
                name=rule.name or "(no name)",
                enabled=rule.enabled,
                hidden=rule.hidden,
                recipients=rule.recipients,
                folder=rule.move_to_folder,
                words=rule.words,
                why=tuple(why),
            )
        )
    return tuple(found)


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


@dataclass(frozen=True)
class Subject:
    """Whose evidence is read: the mailbox, the directory id, and which domains are internal."""

    upn: str
    user_id: str
    domains: frozenset[str]


Gather = Callable[[Subject, TenantReads, datetime], Awaitable[Findings]]


async def _rules(who: Subject, at: TenantReads, now: datetime) -> Findings:
    return rule_findings(await at.inbox_rules(who.upn), set(who.domains))


async def _forwarding(who: Subject, at: TenantReads, now: datetime) -> Findings:
    fwd = await at.mailbox_forwarding(who.upn)
    found = []
    if fwd.smtp_address:
        why = (Why.FORWARDS_EXTERNAL,) if _external(fwd.smtp_address, set(who.domains)) else ()
        found.append(ForwardingFinding(fwd.smtp_address, fwd.deliver_and_forward, why))
    if fwd.forwarding_address:
        found.append(ForwardingFinding(fwd.forwarding_address, fwd.deliver_and_forward, smtp=False))
    return tuple(found)


async def _delegates(who: Subject, at: TenantReads, now: datetime) -> Findings:
    return tuple(
        DelegateFinding(d.user, d.rights, (Why.DELEGATE,)) for d in await at.delegates(who.upn)
    )


async def _mfa(who: Subject, at: TenantReads, now: datetime) -> Findings:
    async def kinds_registered() -> set[str] | None:
        try:
            return await at.registered_method_kinds(who.user_id, since=now - RECENT)
        except BlockWatchError:
            return None  # when undated methods were added is then unknown, not "long ago"

    methods, registered = await asyncio.gather(
        at.authentication_methods(who.user_id), kinds_registered()
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


async def _roles(who: Subject, at: TenantReads, now: datetime) -> Findings:
    return tuple(
        RoleFinding(r.id, r.role_name, (Why.ADMIN_ROLE,), r.role_id, r.scope)
        for r in await at.role_assignments(who.user_id)
    )


async def _risk(who: Subject, at: TenantReads, now: datetime) -> Findings:
    state = await at.risky_user(who.user_id)
    if state is None:
        return ()
    why = (Why.RISKY,) if state.state in ("atRisk", "confirmedCompromised") else ()
    return (RiskFinding(state.level, state.state, why),)


async def _sign_ins(who: Subject, at: TenantReads, now: datetime) -> Findings:
    return sign_in_summary(await at.sign_ins(who.user_id, since=now - RECENT))


async def _consents(who: Subject, at: TenantReads, now: datetime) -> Findings:
    found = []
    for g in await at.consent_grants(who.user_id):
        scopes = {s.lower() for s in g.scope.split()}
        why = []
        if scopes & RISKY_SCOPES:
            why.append(Why.MAIL_ACCESS)
        if not g.verified_publisher:
            why.append(Why.UNVERIFIED_APP)
        found.append(ConsentFinding(g.client_name, g.scope, g.verified_publisher, tuple(why)))
    return tuple(found)


async def _sent(who: Subject, at: TenantReads, now: datetime) -> Findings:
    messages = await at.sent_messages(who.upn, since=now - timedelta(hours=24))
    external = {m.recipient for m in messages if _external(m.recipient, set(who.domains))}
    why = (Why.HIGH_VOLUME,) if len(messages) >= 200 else ()
    recipients = len({m.recipient for m in messages})
    return (SentFinding(len(messages), recipients, len(external), why),)


GATHERERS: dict[SectionName, Gather] = {
    SectionName.RULES: _rules,
    SectionName.FORWARDING: _forwarding,
    SectionName.DELEGATES: _delegates,
    SectionName.MFA: _mfa,
    SectionName.ROLES: _roles,
    SectionName.RISK: _risk,
    SectionName.SIGN_INS: _sign_ins,
    SectionName.CONSENTS: _consents,
    SectionName.SENT: _sent,
}


async def read_section(name: SectionName, who: Subject, at: TenantReads, now: datetime) -> Section:
    """One section, read now: read (with findings), unreadable or not applicable."""
    try:
        return Section(name, SectionStatus.READ, await GATHERERS[name](who, at, now))
    except NotAvailableInTenant as err:
        return Section(name, SectionStatus.NOT_APPLICABLE, problem=problem_of(err))
    except BlockWatchError as err:
        log.warning("evidence section not read", extra={"section": name, "error": str(err)})
        return Section(name, SectionStatus.UNREADABLE, problem=problem_of(err))


async def investigate(
    who: Subject,
    at: TenantReads,
    now: datetime,
    names: tuple[SectionName, ...] = tuple(SectionName),
) -> tuple[Section, ...]:
    """The sections `names` (every one by default), read concurrently."""
    return tuple(await asyncio.gather(*[read_section(n, who, at, now) for n in names]))
