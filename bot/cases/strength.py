"""When evidence is strong enough to contain an account without a human: the rules, in one
place (README "Automatic containment" says the same in words; tests/test_containment_rules.py
holds them to it).

Only evidence that was **read** counts. A sign is one independent reason to believe the
account is in an attacker's hands:

    forwarding      mail forwarded or redirected outside the organisation (an enabled inbox
                    rule, or the mailbox's forwarding)
    hidden_rule     an enabled inbox rule hidden from Outlook (not Exchange's own junk-mail and
                    automatic-reply rules, which every mailbox has)
    hiding_rule     an enabled inbox rule that deletes mail, moves it where nobody looks (RSS
                    Subscriptions, Notes, Junk, Archive…) or acts on bait words
    risk            Entra ID Protection: high user risk, or confirmed compromised
    new_place       a sign-in from a second country (or impossible travel) in the last week
                    and a sign-in method added in the same week
    risky_consent   consent to an app from an unverified publisher with access to mail

Strong: forwarding and at least one other sign, or two signs without forwarding. Anything
less is weak. When it is not strong and a section these rules read could not be read, the
verdict is "unread": the policy waits for the read, never treats it as "nothing found".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.cases.evidence import Evidence, SectionName, SectionStatus, Why
from bot.cases.sections import consents, forwarding, mfa, risk, roles, rules, sign_ins
from bot.cases.sections.consents import ConsentFinding
from bot.cases.sections.forwarding import ForwardingFinding
from bot.cases.sections.mfa import MethodFinding
from bot.cases.sections.risk import RiskFinding
from bot.cases.sections.rules import RuleFinding

# The sections the rules read, in the order a "could not be read" names them.
READS: tuple[SectionName, ...] = (
    rules.NAME,
    forwarding.NAME,
    risk.NAME,
    sign_ins.NAME,
    mfa.NAME,
    consents.NAME,
)
# What a wave's investigations read first, for every account, before the budgeted rest: the
# sections that most often make evidence strong, and cost no identity-reports budget.
FIRST: tuple[SectionName, ...] = (rules.NAME, forwarding.NAME, risk.NAME)
HIGH_PRECISION_STATES = frozenset({"confirmedCompromised"})
PLACE_WHYS = frozenset({Why.SEVERAL_COUNTRIES, Why.IMPOSSIBLE_TRAVEL})
HIDING_WHYS = frozenset({Why.DELETES, Why.HIDES_MAIL, Why.BAIT_WORDS})


class Sign(StrEnum):
    """One independent sign of compromise (catalogue key `sign.<value>`)."""

    FORWARDING = "forwarding"
    HIDDEN_RULE = "hidden_rule"
    HIDING_RULE = "hiding_rule"
    RISK = "risk"
    NEW_PLACE = "new_place"
    RISKY_CONSENT = "risky_consent"


class Verdict(StrEnum):
    """What the rules say about the evidence."""

    STRONG = "strong"
    WEAK = "weak"
    UNREAD = "unread"  # not strong, and a section the rules read could not be read
    PENDING = "pending"  # a new restriction the policy waits to decide on (its investigation)


@dataclass(frozen=True)
class Assessment:
    """The verdict, the signs it rests on, the sections that could not be read, and whether
    the account holds an admin role (contained like any other; the card says so)."""

    verdict: Verdict
    signs: tuple[Sign, ...] = ()
    unread: tuple[SectionName, ...] = ()
    admin: bool = False

    @property
    def strong(self) -> bool:
        """Strong enough to contain without a human."""
        return self.verdict is Verdict.STRONG


def signs_of(evidence: Evidence) -> tuple[Sign, ...]:
    """The signs in the sections that were read, in `Sign` order."""
    found: set[Sign] = set()
    for rule in evidence.findings(rules.NAME):
        if not isinstance(rule, RuleFinding) or not rule.enabled:
            continue
        if Why.FORWARDS_EXTERNAL in rule.why:
            found.add(Sign.FORWARDING)
        if rule.hidden:
            found.add(Sign.HIDDEN_RULE)
        if HIDING_WHYS & set(rule.why):
            found.add(Sign.HIDING_RULE)
    for fwd in evidence.findings(forwarding.NAME):
        if isinstance(fwd, ForwardingFinding) and Why.FORWARDS_EXTERNAL in fwd.why:
            found.add(Sign.FORWARDING)
    for state in evidence.findings(risk.NAME):
        if isinstance(state, RiskFinding) and (
            state.level == "high" or state.state in HIGH_PRECISION_STATES
        ):
            found.add(Sign.RISK)
    elsewhere = any(PLACE_WHYS & set(f.why) for f in evidence.findings(sign_ins.NAME))
    new_method = any(
        isinstance(m, MethodFinding) and Why.RECENT_METHOD in m.why
        for m in evidence.findings(mfa.NAME)
    )
    if elsewhere and new_method:
        found.add(Sign.NEW_PLACE)
    for grant in evidence.findings(consents.NAME):
        if (
            isinstance(grant, ConsentFinding)
            and Why.MAIL_ACCESS in grant.why
            and Why.UNVERIFIED_APP in grant.why
        ):
            found.add(Sign.RISKY_CONSENT)
    return tuple(s for s in Sign if s in found)


def assess(evidence: Evidence | None) -> Assessment:
    """The rules applied to what the investigation read."""
    if evidence is None:
        return Assessment(Verdict.UNREAD, unread=READS)
    signs = signs_of(evidence)
    admin = any(Why.ADMIN_ROLE in f.why for f in evidence.findings(roles.NAME))
    others = [s for s in signs if s is not Sign.FORWARDING]
    strong = len(others) >= (1 if Sign.FORWARDING in signs else 2)
    unread = tuple(n for n in READS if _unread(evidence, n))
    if strong:
        return Assessment(Verdict.STRONG, signs, unread, admin)
    return Assessment(Verdict.UNREAD if unread else Verdict.WEAK, signs, unread, admin)


def _unread(evidence: Evidence, name: SectionName) -> bool:
    """Asked and not answered, or never asked (an investigation that failed). A section the
    tenant has no licence for is not applicable: known, and nothing to wait for."""
    section = evidence.section(name)
    return section is None or section.status is SectionStatus.UNREADABLE
