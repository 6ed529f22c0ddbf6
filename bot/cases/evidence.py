"""The evidence of a compromise, as frozen domain objects.

An investigation reads the sections registered in bot/cases/sections/ (one module each: its
permission, how it is gathered, its findings and why they are suspicious, its words). Each
section is in exactly one of three states:

    read            the tenant answered; `findings` holds what it found (possibly nothing)
    unreadable      the tenant could not be asked or did not answer; `problem` says why
    not applicable  the tenant lacks what the section needs (a licence); `problem` names it

"No findings" only ever means a section that was read. Every finding carries the reasons it is
suspicious (`why`); a finding without reasons is shown as context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NewType, Protocol

from bot.errors import Problem, ProblemKind

# Problems that go away by themselves: a section that failed with one is read again later.
TRANSIENT = frozenset(
    {ProblemKind.THROTTLED, ProblemKind.UNAVAILABLE, ProblemKind.DEADLINE, ProblemKind.BUSY}
)


SectionName = NewType("SectionName", str)  # each section module (bot/cases/sections/) owns one


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
class Untrusted:
    """Text from the tenant (a rule name, a country): the card shows it literally, bounded
    (`limit` characters; 0: the card's default)."""

    text: str
    limit: int = 0


@dataclass(frozen=True)
class Addresses:
    """E-mail addresses from the tenant; the card shows the first `limit`."""

    addresses: tuple[str, ...]
    limit: int = 3


@dataclass(frozen=True)
class Count:
    """A number the card shows in the viewer's language (1,234 / 1.234)."""

    value: int


Part = Untrusted | Addresses | Count | int


@dataclass(frozen=True)
class Phrase:
    """What a finding says: a catalogue key and its values, which the card renders."""

    key: str
    values: Mapping[str, Part] = field(default_factory=dict)


class Finding(Protocol):
    """One thing a section found; a section module defines its kinds (frozen dataclasses with a
    literal `kind`, which the store keeps)."""

    @property
    def kind(self) -> str:
        """The kind of finding, as stored."""
        ...

    @property
    def why(self) -> tuple[Why, ...]:
        """The reasons it is suspicious (none: context)."""
        ...

    def words(self) -> Phrase:
        """What the card says about it."""
        ...


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
        sections = [section if s.name == section.name else s for s in self.sections]
        if section.name not in self.by_name:
            sections.append(section)
        return dataclasses.replace(self, at=at, sections=tuple(sections))

    def unasked(self, names: tuple[SectionName, ...]) -> tuple[SectionName, ...]:
        """Of `names`, the sections never asked for (an investigation that did not finish)."""
        if self.failure is not None:
            return ()
        return tuple(n for n in names if n not in self.by_name)

    @property
    def retryable(self) -> tuple[SectionName, ...]:
        """Sections to read again later (see `Section.retryable`)."""
        return tuple(s.name for s in self.sections if s.retryable)

    def findings(self, name: SectionName) -> Iterator[Finding]:
        """The findings of a section that was read (nothing for any other)."""
        section = self.by_name.get(name)
        if section is not None and section.read:
            yield from section.findings
