"""The evidence of a compromise, as frozen domain objects.

An investigation reads nine sections. Each section is in exactly one of three states:

    read            the tenant answered; `findings` holds what it found (possibly nothing)
    unreadable      the tenant could not be asked or did not answer; `problem` says why
    not applicable  the tenant lacks what the section needs (a licence); `problem` names it

"No findings" only ever means a section that was read. Every finding carries the reasons it is
suspicious (`why`); a finding without reasons is shown as context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.errors import Problem, ProblemKind

# Problems that go away by themselves: a section that failed with one is read again later.
TRANSIENT = frozenset(
    {ProblemKind.THROTTLED, ProblemKind.UNAVAILABLE, ProblemKind.DEADLINE, ProblemKind.BUSY}
)


class SectionName(StrEnum):
    """The parts of an investigation, in the order the case card shows them."""

    RULES = "rules"
    FORWARDING = "forwarding"
    DELEGATES = "delegates"
    MFA = "mfa"
    ROLES = "roles"
    RISK = "risk"
    SIGN_INS = "sign_ins"
    CONSENTS = "consents"
    SENT = "sent"


class SectionStatus(StrEnum):
    """Whether a section was read (see the module docstring)."""

    READ = "read"
    UNREADABLE = "unreadable"
    NOT_APPLICABLE = "not_applicable"


class Why(StrEnum):
    """A reason a finding is suspicious (catalogue key `why.<value>`)."""

    FORWARDS_EXTERNAL = "forwards_external"
    DELETES = "deletes"
    HIDES_MAIL = "hides_mail"
    BAIT_WORDS = "bait_words"
    HIDDEN = "hidden"
    DELEGATE = "delegate"
    RECENT_METHOD = "recent_method"
    ADDED_UNKNOWN = "added_unknown"  # the directory audit log could not be read
    ADMIN_ROLE = "admin_role"
    RISKY = "risky"
    SEVERAL_COUNTRIES = "several_countries"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    FAILED_SIGN_INS = "failed_sign_ins"
    MAIL_ACCESS = "mail_access"
    UNVERIFIED_APP = "unverified_app"
    HIGH_VOLUME = "high_volume"


@dataclass(frozen=True)
class RuleFinding:
    """An inbox rule and what it does with mail."""

    rule_id: str
    name: str
    enabled: bool
    hidden: bool = False
    recipients: tuple[str, ...] = ()
    folder: str | None = None
    words: tuple[str, ...] = ()
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class ForwardingFinding:
    """Mailbox-level forwarding to an address (`smtp`: ForwardingSmtpAddress, else the
    ForwardingAddress recipient)."""

    address: str
    keep_copy: bool = False
    why: tuple[Why, ...] = ()
    smtp: bool = True


@dataclass(frozen=True)
class DelegateFinding:
    """Someone else with FullAccess or SendAs on the mailbox."""

    user: str
    rights: str
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class MethodFinding:
    """A registered sign-in method."""

    method_id: str
    kind: str
    label: str
    created: datetime | None = None
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class RoleFinding:
    """A directory role the user holds (its assignment, and the role and scope to restore)."""

    assignment_id: str
    role_name: str
    why: tuple[Why, ...] = ()
    role_id: str = ""
    scope: str = "/"


@dataclass(frozen=True)
class RiskFinding:
    """Entra ID Protection's verdict on the user."""

    level: str
    state: str
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class CountriesFinding:
    """Where the user signed in from in the last week."""

    countries: tuple[str, ...]
    sign_ins: int
    failures: int
    ips: tuple[str, ...] = ()
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class TravelFinding:
    """Two sign-ins too far apart to travel between in the time between them."""

    origin: str
    destination: str
    minutes: int
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class FailuresFinding:
    """Failed sign-ins in the last week."""

    failures: int
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class ConsentFinding:
    """Delegated permissions the user gave an app."""

    app: str
    scope: str
    publisher: str | None = None
    why: tuple[Why, ...] = ()


@dataclass(frozen=True)
class SentFinding:
    """How much mail the user sent in the last 24 hours."""

    messages: int
    recipients: int
    external: int
    why: tuple[Why, ...] = ()


Finding = (
    RuleFinding
    | ForwardingFinding
    | DelegateFinding
    | MethodFinding
    | RoleFinding
    | RiskFinding
    | CountriesFinding
    | TravelFinding
    | FailuresFinding
    | ConsentFinding
    | SentFinding
)


def suspicious(finding: Finding) -> bool:
    """Whether the finding has at least one reason to worry."""
    return bool(finding.why)


@dataclass(frozen=True)
class Section:
    """One part of the evidence: read (with findings), unreadable or not applicable."""

    name: SectionName
    status: SectionStatus
    findings: tuple[Finding, ...] = ()
    problem: Problem | None = None

    @property
    def read(self) -> bool:
        """The tenant answered: `findings` is the whole truth."""
        return self.status is SectionStatus.READ

    @property
    def retryable(self) -> bool:
        """Unreadable for a reason that passes by itself (throttling, an outage, busy)."""
        return (
            self.status is SectionStatus.UNREADABLE
            and self.problem is not None
            and self.problem.kind in TRANSIENT
        )


@dataclass(frozen=True)
class Evidence:
    """Everything an investigation read, when it read it, or why it could not run at all."""

    at: datetime
    sections: tuple[Section, ...] = ()
    failure: Problem | None = None
    by_name: dict[SectionName, Section] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {s.name: s for s in self.sections})

    def section(self, name: SectionName) -> Section | None:
        """The section `name`, if the investigation got as far as asking."""
        return self.by_name.get(name)

    def with_section(self, section: Section, at: datetime) -> Evidence:
        """This evidence with `section` read again at `at` (replacing the earlier read)."""
        others = [s for s in self.sections if s.name is not section.name]
        ordered = sorted([*others, section], key=lambda s: list(SectionName).index(s.name))
        return dataclasses.replace(self, at=at, sections=tuple(ordered))

    @property
    def missing(self) -> tuple[SectionName, ...]:
        """Sections never asked for (an investigation that did not finish)."""
        if self.failure is not None:
            return ()
        return tuple(n for n in SectionName if n not in self.by_name)

    @property
    def retryable(self) -> tuple[SectionName, ...]:
        """Sections to read again later (see `Section.retryable`)."""
        return tuple(s.name for s in self.sections if s.retryable)

    def findings(self, name: SectionName) -> Iterator[Finding]:
        """The findings of a section that was read (nothing for any other)."""
        section = self.by_name.get(name)
        if section is not None and section.read:
            yield from section.findings

    def suspicious_rules(self) -> list[RuleFinding]:
        """Enabled inbox rules the investigation flagged (the choices for 'disable rules')."""
        return [
            f
            for f in self.findings(SectionName.RULES)
            if isinstance(f, RuleFinding) and f.why and f.enabled
        ]

    def suspicious_methods(self) -> list[MethodFinding]:
        """Sign-in methods the investigation flagged (the choices for 'review MFA')."""
        return [
            f
            for f in self.findings(SectionName.MFA)
            if isinstance(f, MethodFinding) and f.why and f.method_id
        ]
