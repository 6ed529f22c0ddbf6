"""The evidence on the case card: each registered section (bot/cases/sections/) with its
findings in the words the section gives them, or why it could not be read. Every value from the
tenant is shown through cards/literal.py."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cases.evidence import (
    Addresses,
    Count,
    Finding,
    Part,
    Phrase,
    Section,
    SectionStatus,
    Untrusted,
    suspicious,
)
from bot.cases.model import Case
from bot.cases.sections import NAMES
from bot.errors import Problem, ProblemKind
from bot.i18n import Texts
from cards.common import Card, address, ours, problem_text, shown, text, titled

SUMMARY_FINDINGS = 3  # suspicious findings shown before "Show all findings"
NOTES_SHOWN = 3  # newest notes on the card; the rest are in `history`
DETAILS_ID = "details"  # the findings behind the toggle
FINDINGS_PER_SECTION = (8, 4, 2, 1, 0)  # in the details, tried in turn until the card fits


def _part(part: Part, t: Texts) -> str:
    """One value of a finding's phrase, as the card shows it."""
    match part:
        case Untrusted():
            return shown(part.text, part.limit) if part.limit else shown(part.text)
        case Addresses():
            return ", ".join(address(a, t) for a in part.addresses[: part.limit])
        case Count():
            return t.number(part.value)
    return str(part)


def phrase(words: Phrase, t: Texts) -> str:
    """A finding's words in the viewer's language."""
    return t(words.key, **{name: _part(part, t) for name, part in words.values.items()})


@dataclass(frozen=True)
class Fit:
    """How much of a case one card shows: the most that keeps it within its byte budget."""

    findings: int  # per section, in the details behind "Show all findings"
    links: bool = True  # the portal links
    notes: int = NOTES_SHOWN
    details: bool = True  # the details at all


# Tried in turn: the portal links stay longest, then the details' findings, then the notes
# (which `history` has too); the details themselves go last.
FITS = (
    *(Fit(limit) for limit in FINDINGS_PER_SECTION),
    *(Fit(limit, links=False) for limit in FINDINGS_PER_SECTION),
    Fit(0, links=False, notes=1),
    Fit(0, links=False, notes=0, details=False),
)


UNREAD_REASONS = frozenset(
    {
        ProblemKind.THROTTLED,
        ProblemKind.UNAVAILABLE,
        ProblemKind.DEADLINE,
        ProblemKind.BUSY,
        ProblemKind.FORBIDDEN,
        ProblemKind.NOT_AVAILABLE,
        ProblemKind.NOT_FOUND,
        ProblemKind.FAILED,
        ProblemKind.UNEXPECTED,
    }
)


def _finding_line(finding: Finding, t: Texts) -> Card:
    words = phrase(finding.words(), t)
    if suspicious(finding):
        why = ", ".join(t(f"why.{w.value}") for w in finding.why)
        return text(f"⚠ {words} — {why}", color="Attention", size="Small", spacing="None")
    return text(f"• {words}", size="Small", spacing="None", isSubtle=True)


def unread_reason(problem: Problem | None, t: Texts) -> str:
    """Why evidence could not be read, as a phrase ("Exchange Online did not answer")."""
    kind = problem.kind if problem is not None else ProblemKind.FAILED
    if kind not in UNREAD_REASONS:
        kind = ProblemKind.FAILED
    return t(
        f"unread.{kind.value}",
        service=(problem.service if problem else "") or "Microsoft 365",
        missing=shown((problem.missing if problem else "") or "?"),
        message=shown((problem.message if problem else "") or "?", 300),
        reference=(problem.reference if problem else "") or "?",
    )


def _section_state(section: Section, t: Texts) -> str | None:
    """Why a section has no findings to show, or None when it was read."""
    problem = section.problem
    if section.status is SectionStatus.NOT_APPLICABLE:
        return t("section.unavailable.licence", missing=shown(problem.missing if problem else "?"))
    if section.status is SectionStatus.UNREADABLE:
        key = "section.retrying" if section.retryable else "section.unreadable"
        return t(key, why=unread_reason(problem, t))
    return None


def _section(section: Section, t: Texts, limit: int, above: frozenset[int]) -> list[Card]:
    """A section's title and its findings (suspicious first) other than those in the summary
    (`above`: their ids), at most `limit` of them and a count of the rest."""
    title = ours(t(f"section.{section.name}"), weight="Bolder", size="Small", spacing="Small")
    blocks: list[Card] = [title]
    subtle = {"size": "Small", "isSubtle": True, "spacing": "None"}
    if (state := _section_state(section, t)) is not None:
        blocks.append(text(state, **subtle))
    elif not section.findings:
        blocks.append(ours(t("section.none"), **subtle))
    else:
        ordered = [f for f in section.findings if id(f) not in above]
        ordered.sort(key=lambda f: not suspicious(f))
        if not ordered:
            blocks.append(ours(t("section.above"), **subtle))
        blocks.extend(_finding_line(f, t) for f in ordered[:limit])
        if len(ordered) > limit:
            blocks.append(ours(f"… +{len(ordered) - limit}", **subtle))
    return blocks


def _sections(case: Case, t: Texts, limit: int, above: frozenset[int]) -> list[Card]:
    """Every section, each with its findings (suspicious ones first, but for those `above` in
    the summary) or why it has none."""
    evidence = case.evidence
    blocks: list[Card] = []
    if evidence is not None and evidence.failure is None:
        for name in NAMES:
            if (section := evidence.section(name)) is not None:
                blocks.extend(_section(section, t, limit, above))
    return blocks


def summary(case: Case, t: Texts, fit: Fit) -> list[Card]:
    """The findings in short: how many are suspicious, the first few of them, every section
    that could not be read (and why); all the rest behind "Show all findings"."""
    title = ours(t("case.investigation"), weight="Bolder")
    evidence = case.evidence
    if evidence is None:
        return [titled(title), ours(t("case.investigating"), isSubtle=True, spacing="None")]
    if evidence.failure is not None:
        message = problem_text(evidence.failure, t)
        return [titled(title), text(t("case.evidence_failed", message=message), color="Attention")]
    flagged = [f for s in evidence.sections for f in s.findings if suspicious(f)]
    unread = [s for s in evidence.sections if s.status is SectionStatus.UNREADABLE]
    head = t("case.summary", count=len(flagged), sections=len(evidence.sections))
    toggle = {
        "type": "Action.ToggleVisibility",
        "title": t("button.details"),
        "targetElements": [DETAILS_ID],
    }
    toggles = [toggle] if fit.details else []
    blocks: list[Card] = [titled(title, ours(head, size="Small", isSubtle=True), *toggles)]
    if not flagged and not unread:
        blocks.append(ours(t("case.nothing_suspicious"), color="Good", spacing="None"))
    blocks.extend(_finding_line(f, t) for f in flagged[:SUMMARY_FINDINGS])
    if len(flagged) > SUMMARY_FINDINGS and not fit.details:  # else the header and toggle say it
        more = t("case.more_findings", count=len(flagged) - SUMMARY_FINDINGS)
        blocks.append(ours(more, size="Small", isSubtle=True, spacing="None"))
    for section in unread:
        why = f"{t('section.' + section.name)}: {_section_state(section, t)}"
        blocks.append(text(why, size="Small", color="Warning", spacing="None"))
    above = frozenset(id(f) for f in flagged[:SUMMARY_FINDINGS])
    details = _sections(case, t, fit.findings, above) if fit.details else []
    if details:
        blocks.append({"type": "Container", "id": DETAILS_ID, "isVisible": False, "items": details})
    return blocks
