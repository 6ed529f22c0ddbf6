"""The wave card: many restrictions within the hour as one live incident card, kept true in
place like a case card. How many are where (restricted, investigated, with strong evidence,
contained, released, verified), when the investigations are expected to be done at Microsoft's
limits, one compact row per account (paged), the last bulk action's progress with every case it
could not act on, and — in each admin's own view — the bulk actions their role allows, each
behind one confirmation."""

from __future__ import annotations

from datetime import datetime

from bot.cases.model import Case
from bot.cases.strength import Verdict, assess
from bot.cases.waves import (
    BulkAction,
    BulkKind,
    Result,
    Wave,
    applies_count,
    contained,
    containment_failed,
    counts,
    expected_finish,
    floor_seconds,
)
from bot.core.people import Role
from bot.i18n import Texts
from cards.checklist import show_card
from cards.common import (
    Card,
    adaptive_card,
    address,
    execute,
    heading,
    ours,
    problem_text,
    shown,
    text,
)
from cards.verbs import BulkContain, BulkRelease, BulkTake, RefreshWave

PAGE = 12  # account rows per page of the card
OUTCOMES_SHOWN = 8  # cases a bulk action could not act on, listed by name


def _name(case: Case, t: Texts) -> str:
    return shown(case.display_name, 60) if case.display_name else address(case.upn, t)


def _evidence_word(case: Case, t: Texts) -> str:
    if contained(case):
        return t("wave.row.contained")
    if containment_failed(case):
        return t("wave.row.contain_failed")
    if case.evidence is None:
        return t("wave.row.investigating")
    verdict = assess(case.evidence).verdict
    return t("wave.row." + ("strong" if verdict is Verdict.STRONG else verdict.value))


def _minutes(seconds: float, t: Texts) -> str:
    return t("wave.minutes", minutes=t.number(max(1, round(seconds / 60))))


def _bulk_lines(bulk: BulkAction, cases: dict[str, Case], t: Texts) -> list[Card]:
    done = sum(o.result in (Result.DONE, Result.REQUESTED) for o in bulk.outcomes)
    state = "running" if bulk.running else ("stopped" if bulk.stopped else "finished")
    said = t(
        f"wave.bulk.{state}",
        action=t("wave.bulk." + bulk.kind.value),
        actor=shown(bulk.actor_name, 60),
        done=t.number(done),
        total=t.number(len(bulk.targets)),
    )
    lines: list[Card] = [text(said, size="Small", weight="Bolder", spacing="Medium")]
    left = [o for o in bulk.outcomes if o.result not in (Result.DONE,)]
    for outcome in left[:OUTCOMES_SHOWN]:
        case = cases.get(outcome.case_id)
        who = _name(case, t) if case else outcome.case_id
        why = t("wave.result." + outcome.result.value)
        if outcome.problem is not None:
            why += ": " + problem_text(outcome.problem, t)
        lines.append(text(f"• {who} — {why}", size="Small", spacing="None"))
    if len(left) > OUTCOMES_SHOWN:
        more = t("wave.more", count=t.number(len(left) - OUTCOMES_SHOWN))
        lines.append(ours(more, size="Small", isSubtle=True, spacing="None"))
    return lines


def _actions(wave: Wave, cases: list[Case], t: Texts, role: Role) -> list[Card]:
    """The bulk actions this role may start, each behind one confirmation."""
    if wave.bulk is not None and wave.bulk.running:
        return []
    offered: list[tuple[BulkKind, type[BulkContain | BulkRelease | BulkTake], Role]] = [
        (BulkKind.CONTAIN, BulkContain, Role.APPROVER),
        (BulkKind.RELEASE, BulkRelease, Role.APPROVER),
        (BulkKind.TAKE, BulkTake, Role.RESPONDER),
    ]
    actions: list[Card] = []
    for kind, verb, needed in offered:
        count = applies_count(kind, cases)
        if role < needed or not count:
            continue
        title = t(f"wave.button.{kind.value}", count=t.number(count))
        confirm = ours(t(f"wave.confirm.{kind.value}", count=t.number(count)), size="Small")
        click = verb.button(wave=wave.id, version=wave.version, lang=t.lang)
        go = execute(t("wave.button.confirm"), click, style="positive")
        actions.append(show_card(title, [confirm], [go]))
    return actions


def render_wave(
    wave: Wave,
    cases: list[Case],
    *,
    t: Texts,
    now: datetime,
    role: Role = Role.NONE,
    page: int = 1,
    notice: str | None = None,
) -> Card:
    """The wave as `role` may act on it (`Role.NONE`: the card a conversation shares)."""
    found = counts(cases)
    by_id = {c.id: c for c in cases}
    ordered = sorted(cases, key=lambda c: ((c.display_name or c.upn).lower(), c.upn))
    body: list[Card] = [
        heading(t("wave.title", count=t.number(found.restricted))),
        ours(
            t("wave.since", since=t.clock(wave.opened_at), now=t.clock(now)),
            size="Small",
            isSubtle=True,
            spacing="None",
        ),
    ]
    if notice:
        body.append(ours(notice, color="Accent", weight="Bolder"))
    summary = t(
        "wave.counts",
        investigated=t.number(found.investigated),
        strong=t.number(found.strong),
        contained=t.number(found.contained),
        released=t.number(found.released),
        verified=t.number(found.verified),
    )
    body.append(ours(summary, size="Small"))
    finish = expected_finish(wave, cases, now)
    if finish is not None:
        floor = _minutes(floor_seconds(len(cases)), t)
        body.append(
            ours(t("wave.expected", at=t.clock(finish), floor=floor), size="Small", spacing="None")
        )
    if wave.bulk is not None:
        body += _bulk_lines(wave.bulk, by_id, t)
    pages = max(1, -(-len(ordered) // PAGE))
    current = min(max(page, 1), pages)
    rows = ordered[(current - 1) * PAGE : current * PAGE]
    first = True
    for case in rows:
        state = t("case.state." + case.state.value)
        row = f"{_name(case, t)} — {state} · {_evidence_word(case, t)}"
        body.append(text(row, size="Small", spacing="Medium" if first else "None"))
        first = False
    if pages > 1:
        body.append(ours(t("list.page", page=current, pages=pages), size="Small", isSubtle=True))
    actions = _actions(wave, cases, t, role)
    if current > 1:
        back = RefreshWave.button(wave=wave.id, page=current - 1, lang=t.lang)
        actions.append(execute(t("list.previous"), back))
    if current < pages:
        ahead = RefreshWave.button(wave=wave.id, page=current + 1, lang=t.lang)
        actions.append(execute(t("list.next"), ahead))
    label = "button.refresh_mine" if role is Role.NONE else "button.refresh"
    actions.append(execute(t(label), RefreshWave.button(wave=wave.id, page=current, lang=t.lang)))
    card = adaptive_card(body, actions)
    refresh = RefreshWave.button(wave=wave.id, page=current, lang=t.lang)
    card["refresh"] = {
        "action": {"type": "Action.Execute", "verb": RefreshWave.verb, "data": refresh.data()}
    }
    return card
