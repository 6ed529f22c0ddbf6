"""The history of one sender and the audit trail of everyone, as cards."""

from __future__ import annotations

from bot.cases.model import Case, CloseReason
from bot.core.audit import AuditEvent
from bot.i18n import Texts
from cards.common import (
    ENVELOPE_ALLOWANCE,
    Card,
    adaptive_card,
    address,
    heading,
    ours,
    shown,
    text,
    title,
    utf16_size,
)

AUDIT_SHOWN = 40
CASES_SHOWN = 10


DETAIL_SHOWN = 300  # characters of an event's detail (a note, a close comment) on a line


def _said(event: AuditEvent, t: Texts) -> str:
    """What an event carries beyond its action: a note's text, whom a case was taken from,
    a close reason and its comment, a step's outcome."""
    said = shown(event.detail, DETAIL_SHOWN) if event.detail else ""
    reason = event.parameters.get("reason")
    if event.action == "close_reason" and isinstance(reason, str):
        known = reason in {r.value for r in CloseReason}
        given = t("close." + reason) if known else shown(reason, 40)
        return f"{given}: {said}" if said else given
    return said


def _line(event: AuditEvent, t: Texts, *, target: bool) -> str:
    assert event.at is not None
    who = shown(event.actor_name or event.actor_id, 60)
    parts = [t.when(event.at), who, shown(event.action, 80)]
    if target:
        parts.append(address(event.target, t))
    parts.append(shown(event.result, 40))
    if said := _said(event, t):
        parts.append(said)
    return " · ".join(parts)


def _case_line(case: Case, t: Texts) -> str:
    """A case's heading in its history: opened when, how it stands, who owns it, why it ended."""
    state = t("case.state." + case.state.value)
    parts = [t("history.case", opened=t.when(case.opened_at), state=state)]
    if case.owner_id:
        parts.append(t("owner.is", owner=shown(case.owner_name or case.owner_id, 80)))
    if case.close_reason is not None:
        parts.append(t("close.given", reason=t("close." + case.close_reason.value)))
    return " · ".join(parts)


def _fit(body: list[Card], lines: list[Card], *, budget: int, reserve: int) -> int:
    """How many of `lines`, in order, fit after `body` with `reserve` bytes kept for a footer."""
    used = utf16_size(adaptive_card(body)) + reserve + ENVELOPE_ALLOWANCE
    for count, line in enumerate(lines):
        used += utf16_size(line) + 4  # the ", " between neighbours
        if used > budget:
            return count
    return len(lines)


def history_card(
    upn: str, cases: list[tuple[Case, list[AuditEvent]]], *, t: Texts, budget: int
) -> Card:
    """Every case of `upn`, newest first, each with what happened in it; within `budget` bytes
    (UTF-16): what does not fit is left off, and the card says so."""
    who = address(upn, t)
    body = [heading(t("history.title", upn=who))]
    if not cases:
        body.append(text(t("history.none", upn=who)))
    lines: list[Card] = []
    for case, events in cases[:CASES_SHOWN]:
        lines.append(text(_case_line(case, t), weight="Bolder", separator=True))
        lines.extend(
            text(_line(e, t, target=False), size="Small", spacing="None") for e in events if e.at
        )
    more = ours(t("history.more"), isSubtle=True)
    fits = _fit(body, lines, budget=budget, reserve=utf16_size(more))
    body.extend(lines[:fits])
    if fits < len(lines):
        body.append(more)
    return adaptive_card(body)


def audit_card(events: list[AuditEvent], *, days: int, t: Texts, budget: int) -> Card:
    """The latest events of the last `days` days, newest first; as many as fit in `budget`
    bytes (UTF-16), at most AUDIT_SHOWN."""
    body = [title(t("audit.title", days=days))]
    if not events:
        body.append(ours(t("audit.none", days=days)))
    newest = [e for e in reversed(events[-AUDIT_SHOWN:]) if e.at]
    lines = [text(_line(e, t, target=True), size="Small", spacing="None") for e in newest]
    footer = ours(t("audit.more", shown=AUDIT_SHOWN, total=len(events)), isSubtle=True)
    fits = _fit(body, lines, budget=budget, reserve=utf16_size(footer))
    body.extend(lines[:fits])
    if len(events) > fits:
        body.append(ours(t("audit.more", shown=fits, total=len(events)), isSubtle=True))
    return adaptive_card(body)
