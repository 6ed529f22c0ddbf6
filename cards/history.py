"""The history of one sender and the audit trail of everyone, as cards."""

from __future__ import annotations

from bot.cases.model import Case
from bot.i18n import Texts
from bot.store.audit import AuditEvent
from cards.common import Card, adaptive_card, heading, text

AUDIT_SHOWN = 40
CASES_SHOWN = 10


def _line(event: AuditEvent, t: Texts, *, target: bool) -> str:
    assert event.at is not None
    who = event.actor_name or event.actor_id
    parts = [t.when(event.at), who, event.action] + ([event.target] if target else [])
    return " · ".join([*parts, event.result])


def history_card(upn: str, cases: list[tuple[Case, list[AuditEvent]]], *, t: Texts) -> Card:
    """Every case of `upn`, newest first, each with what happened in it."""
    body = [heading(t("history.title", upn=upn))]
    if not cases:
        body.append(text(t("history.none", upn=upn)))
    for case, events in cases[:CASES_SHOWN]:
        state = t("case.state." + case.state.value)
        opened = t("history.case", opened=t.when(case.opened_at), state=state)
        body.append(text(opened, weight="Bolder", separator=True))
        body.extend(
            text(_line(e, t, target=False), size="Small", spacing="None") for e in events if e.at
        )
    return adaptive_card(body)


def audit_card(events: list[AuditEvent], *, days: int, t: Texts) -> Card:
    """The latest events of the last `days` days, newest first."""
    body = [heading(t("audit.title", days=days))]
    if not events:
        body.append(text(t("audit.none", days=days)))
    shown = events[-AUDIT_SHOWN:]
    body.extend(
        text(_line(e, t, target=True), size="Small", spacing="None")
        for e in reversed(shown)
        if e.at
    )
    if len(events) > len(shown):
        more = t("audit.more", shown=len(shown), total=len(events))
        body.append(text(more, isSubtle=True))
    return adaptive_card(body)
