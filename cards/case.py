"""The case card: evidence, the checklist as buttons, and release with its approvals.

`render_case` is a pure function of the case (with its evidence), the viewer's role, language
and time. What the case allows (which steps can run, whether it can be released) is asked of
`Case`; this module only decides how it looks.

User-specific views (Teams Universal Actions): every case card carries a `refresh` action, so
Teams asks BlockWatch for each viewer's own card (`adaptiveCard/action`, trigger automatic) in
conversations of up to 60 members. The card a conversation holds for everyone is the
role-neutral one (`Role.NONE`): no action buttons, and "Refresh for my view" for larger
conversations. Each role's view shows what that role may do; the server checks every action
again regardless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    suspicious,
)
from bot.cases.model import (
    CLOSE_COMMENT_LIMIT,
    NOTE_LIMIT,
    Case,
    CaseState,
    CloseReason,
    Note,
    Notice,
    Step,
    StepName,
    StepStatus,
)
from bot.core.m365 import parse_reason
from bot.core.people import Role
from bot.errors import Problem, ProblemKind
from bot.i18n import Texts
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
    utf16_size,
)
from cards.portals import Cloud, portal_links

SUPPORT_URL = "https://admin.microsoft.com/#/support"
_STATE_COLOR = {
    CaseState.READY: "Good",
    CaseState.VERIFIED: "Good",
    CaseState.RELEASED: "Accent",
    CaseState.RE_RESTRICTED: "Attention",
}
_STATUS_COLOR = {
    StepStatus.DONE: "Good",
    StepStatus.FAILED: "Attention",
    StepStatus.INTERRUPTED: "Warning",
    StepStatus.RUNNING: "Accent",
}
_ICON = {
    StepStatus.NOT_RUN: "⬜",
    StepStatus.RUNNING: "⏳",
    StepStatus.DONE: "✅",
    StepStatus.FAILED: "❌",
    StepStatus.SKIPPED: "⏭",
    StepStatus.INTERRUPTED: "⚠",
}
SUMMARY_FINDINGS = 3  # suspicious findings shown before "Show all findings"
NOTES_SHOWN = 3  # newest notes on the card; the rest are in `history`
DETAILS_ID = "details"  # the findings behind the toggle
STEP_ID = "step_"  # + the step's name: a checklist row that starts hidden
FORMS_ID = "step_forms"  # the checklist's forms (choose rules, review methods, skip)
ATTENTION = frozenset({StepStatus.RUNNING, StepStatus.FAILED, StepStatus.INTERRUPTED})
FINISHED = frozenset({StepStatus.DONE, StepStatus.SKIPPED})
FINDINGS_PER_SECTION = (8, 4, 2, 1, 0)  # in the details, tried in turn until the card fits
DEFAULT_BUDGET = 35_500  # UTF-16 bytes: the default CARD_BUDGET_BYTES less ENVELOPE_ALLOWANCE
MAX_RULE_CHOICES = 10


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


def _action(
    t: Texts, title: str, verb: str, case: Case, *, style: str | None = None, **extra: Any
) -> Card:
    data = {"case": case.id, "version": case.version, "lang": t.lang, **extra}
    return execute(title, verb, data, style=style)


def step_detail_text(step: Step, t: Texts) -> str:
    """What a step's outcome says, in the admin's language."""
    detail = step.detail
    if detail is None:
        return ""
    if detail.note is Note.FAILED:
        return problem_text(detail.problem, t)
    return t(
        detail.note.value,
        why=problem_text(detail.problem, t),
        actor=shown(step.actor_name or "?"),
        names=", ".join(shown(n, 60) for n in detail.names[:MAX_RULE_CHOICES]),
        count=len(detail.names),
        old=shown(detail.old),
        reason=shown(detail.reason, 300),
    )


def _words(finding: Finding, t: Texts) -> str:  # one arm per kind of finding
    match finding:
        case RuleFinding():
            words = shown(finding.name)
            if finding.recipients:
                return words + " → " + ", ".join(address(r, t) for r in finding.recipients[:3])
            return words + (" → " + shown(finding.folder) if finding.folder else "")
        case SentFinding():
            return t(
                "fact.sent",
                count=t.number(finding.messages),
                recipients=t.number(finding.recipients),
                external=t.number(finding.external),
            )
        case CountriesFinding():
            return t(
                "fact.countries",
                text=shown(", ".join(finding.countries)),
                count=t.number(finding.sign_ins),
                failures=t.number(finding.failures),
            )
        case TravelFinding():
            route = f"{shown(finding.origin)} → {shown(finding.destination)}"
            return t("fact.travel", text=route, minutes=finding.minutes)
        case FailuresFinding():
            return t("fact.failures", text=finding.failures)
        case ForwardingFinding():
            return address(finding.address, t)
        case DelegateFinding():
            return address(finding.user, t)
        case MethodFinding():
            return shown(finding.label)
        case RoleFinding():
            return shown(finding.role_name)
        case RiskFinding():
            return shown(finding.level)
        case ConsentFinding():
            publisher = f" ({shown(finding.publisher, 60)})" if finding.publisher else ""
            return shown(finding.app) + publisher


def _finding_line(finding: Finding, t: Texts) -> Card:
    words = _words(finding, t)
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
    title = ours(t(f"section.{section.name.value}"), weight="Bolder", size="Small", spacing="Small")
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
        for name in SectionName:
            if (section := evidence.section(name)) is not None:
                blocks.extend(_section(section, t, limit, above))
    return blocks


def _summary(case: Case, t: Texts, fit: Fit) -> list[Card]:
    """The findings in short: how many are suspicious, the first few of them, every section
    that could not be read (and why); all the rest behind "Show all findings"."""
    title = ours(t("case.investigation"), weight="Bolder")
    evidence = case.evidence
    if evidence is None:
        return [_titled(title), ours(t("case.investigating"), isSubtle=True, spacing="None")]
    if evidence.failure is not None:
        message = problem_text(evidence.failure, t)
        return [_titled(title), text(t("case.evidence_failed", message=message), color="Attention")]
    flagged = [f for s in evidence.sections for f in s.findings if suspicious(f)]
    unread = [s for s in evidence.sections if s.status is SectionStatus.UNREADABLE]
    head = t("case.summary", count=len(flagged), sections=len(evidence.sections))
    toggle = {
        "type": "Action.ToggleVisibility",
        "title": t("button.details"),
        "targetElements": [DETAILS_ID],
    }
    toggles = [toggle] if fit.details else []
    blocks: list[Card] = [_titled(title, ours(head, size="Small", isSubtle=True), *toggles)]
    if not flagged and not unread:
        blocks.append(ours(t("case.nothing_suspicious"), color="Good", spacing="None"))
    blocks.extend(_finding_line(f, t) for f in flagged[:SUMMARY_FINDINGS])
    if len(flagged) > SUMMARY_FINDINGS and not fit.details:  # else the header and toggle say it
        more = t("case.more_findings", count=len(flagged) - SUMMARY_FINDINGS)
        blocks.append(ours(more, size="Small", isSubtle=True, spacing="None"))
    for section in unread:
        why = f"{t('section.' + section.name.value)}: {_section_state(section, t)}"
        blocks.append(text(why, size="Small", color="Warning", spacing="None"))
    above = frozenset(id(f) for f in flagged[:SUMMARY_FINDINGS])
    details = _sections(case, t, fit.findings, above) if fit.details else []
    if details:
        blocks.append({"type": "Container", "id": DETAILS_ID, "isVisible": False, "items": details})
    return blocks


def _titled(title: Card, note: Card | None = None, *actions: Card) -> Card:
    """A part's title in a row, with a note beside it and its buttons at the right."""
    columns = [_column([title, *([note] if note else [])], "stretch")]
    if actions:
        columns.append(_column([{"type": "ActionSet", "actions": list(actions)}], "auto"))
    return {"type": "ColumnSet", "columns": columns, "separator": True, "spacing": "Medium"}


def _choices(pairs: list[tuple[str, str]]) -> list[Card]:
    return [{"title": shown(title, 60), "value": value} for title, value in pairs]


def _pick(t: Texts, choice_id: str, label: str, pairs: list[tuple[str, str]], **extra: Any) -> Card:
    return {
        "type": "Input.ChoiceSet",
        "id": choice_id,
        "isMultiSelect": True,
        "style": "expanded",
        "label": t(label),
        "choices": _choices(pairs),
        **extra,
    }


def _show_card(title: str, body: list[Card], actions: list[Card]) -> Card:
    card = {"type": "AdaptiveCard", "body": body, "actions": actions}
    return {"type": "Action.ShowCard", "title": title, "card": card}


def refresh_action(case: Case, t: Texts) -> Card:
    """The card-level `refresh`: Teams fetches each viewer's own card with it."""
    data = {"case": case.id, "version": case.version, "lang": t.lang}
    return {"action": {"type": "Action.Execute", "verb": "refresh_case", "data": data}}


def _row_button(case: Case, step: StepName, t: Texts) -> Card | None:
    """The button in a step's row: Run (Retry), or Confirm for sign-in methods with nothing
    flagged; steps that need a choice also get a form below the table (`_forms`)."""
    if not case.can_start(step):
        return None
    if step is StepName.REVIEW_MFA:
        if case.evidence and case.evidence.suspicious_methods():
            return None  # the methods are reviewed in the form ("Review sign-in methods…")
        return _action(t, t("button.confirm"), "run_step", case, step=step.value)
    title = t("button.retry") if case.can_retry(step) else t("button.run")
    return _action(t, title, "run_step", case, step=step.value)


def _forms(case: Case, t: Texts) -> list[Card]:
    """The checklist's forms: choose which rules to disable, review flagged sign-in methods,
    skip a step with a reason."""
    evidence = case.evidence
    forms: list[Card] = []
    rules = evidence.suspicious_rules()[:MAX_RULE_CHOICES] if evidence else []
    if case.can_start(StepName.DISABLE_RULES) and rules:
        pairs = [(r.name, r.rule_id) for r in rules]
        pick = _pick(t, "rules", "input.rules", pairs, value=",".join(v for _, v in pairs))
        run = _action(t, t("button.disable"), "run_step", case, step=StepName.DISABLE_RULES.value)
        forms.append(_show_card(t("button.choose_rules"), [pick], [run]))
    methods = evidence.suspicious_methods()[:MAX_RULE_CHOICES] if evidence else []
    if case.can_start(StepName.REVIEW_MFA) and methods:
        pairs = [(m.label, m.method_id) for m in methods]
        pick = _pick(t, "remove", "input.remove_methods", pairs)
        confirm = _action(t, t("button.confirm"), "run_step", case, step=StepName.REVIEW_MFA.value)
        forms.append(_show_card(t("button.review"), [pick], [confirm]))
    if case.skippable:
        forms.append(_skip_card(case, case.skippable, t))
    return forms


def _column(items: list[Card], width: str) -> Card:
    return {"type": "Column", "width": width, "items": items}


def _step_row(case: Case, step: StepName, t: Texts, role: Role) -> Card:
    """One row of the checklist table: status icon, step and outcome, and its button. Rows
    that need no attention (not run, done, skipped) start hidden: the strip above sums them up
    and "Show steps" shows them."""
    state = case.step(step)
    color = {"color": c} if (c := _STATUS_COLOR.get(state.status)) else {}
    icon = _ICON[state.status]
    name = f"{icon} {t('step.' + step.value)} — {t('status.' + state.status.value)}"
    items: list[Card] = [ours(name, size="Small", weight="Bolder", **color)]
    if detail := step_detail_text(state, t):
        if state.actor_name and shown(state.actor_name) not in detail:
            detail += " (" + t("step.by", actor=shown(state.actor_name)) + ")"
        items.append(text(detail, size="Small", isSubtle=True, spacing="None"))
    columns = [_column(items, "stretch")]
    button = _row_button(case, step, t) if role >= Role.RESPONDER else None
    if button is not None:
        columns.append(_column([{"type": "ActionSet", "actions": [button]}], "auto"))
    row: Card = {"type": "ColumnSet", "columns": columns, "spacing": "Small"}
    if state.status not in ATTENTION:
        row.update(id=STEP_ID + step.value, isVisible=False)
    return row


def _strip(case: Case) -> str:
    """Every step's status in one line: "✅ 1  ⏳ 2  ⬜ 3 …"."""
    return "   ".join(f"{_ICON[case.step(s).status]} {n}" for n, s in enumerate(StepName, 1))


def _checklist(case: Case, t: Texts, role: Role) -> list[Card]:
    """The checklist: a strip of every step's status, the rows that need attention (running,
    failed, interrupted), and the others with the forms behind "Show steps"."""
    responder = role >= Role.RESPONDER
    title = ours(t("case.checklist"), weight="Bolder")
    finished = sum(case.step(s).status in FINISHED for s in StepName)
    note = t("case.steps_finished", count=finished, total=len(StepName))
    rows = [_step_row(case, step, t, role) for step in StepName]
    if responder and (forms := _forms(case, t)):
        rows.append({"type": "ActionSet", "actions": forms, "spacing": "Small"})
        rows[-1].update(id=FORMS_ID, isVisible=False)
    hidden = [row["id"] for row in rows if row.get("isVisible") is False]
    toggles: list[Card] = []
    if hidden:
        toggle = {"type": "Action.ToggleVisibility", "title": t("button.steps")}
        toggles.append(toggle | {"targetElements": hidden})
    head = ours(f"{_strip(case)}   ·   {note}", size="Small", spacing="None")
    blocks: list[Card] = [_titled(title, head, *toggles)]
    if responder and case.can_run_recommended:
        run = _action(t, t("button.recommended"), "run_recommended", case)
        blocks.append({"type": "ActionSet", "actions": [run], "spacing": "Small"})
    return blocks + rows


def _skip_card(case: Case, steps: tuple[StepName, ...], t: Texts) -> Card:
    """One "Skip a step" sub-card: which step, and the reason (required)."""
    body: list[Card] = [
        {
            "type": "Input.ChoiceSet",
            "id": "step",
            "style": "compact",
            "value": steps[0].value,
            "label": t("input.skip_step"),
            "choices": [{"title": t("step." + s.value), "value": s.value} for s in steps],
        },
        {
            "type": "Input.Text",
            "id": "reason",
            "label": t("input.skip_reason"),
            "maxLength": 500,
            "isRequired": True,
        },
    ]
    submit = _action(t, t("button.skip"), "skip_step", case)
    return _show_card(t("button.skip"), body, [submit])


def _support_link(t: Texts) -> Card:
    return {"type": "Action.OpenUrl", "title": t("release.support"), "url": SUPPORT_URL}


def _release_problem(case: Case, t: Texts) -> list[Card]:
    """How the last release attempt ended, when it did not release."""
    problem = case.release_problem
    if problem is None:
        return []
    if case.release_interrupted:
        return [ours(t("release.interrupted"), color="Warning")]
    blocks = [text(t("release.failed", why=problem_text(problem, t)), color="Attention")]
    if case.release_needs_a_human:
        if problem.message and problem.kind is not ProblemKind.FAILED:
            said = shown(problem.message, 300)
            blocks.append(text(t("release.microsoft_said", message=said), size="Small"))
        blocks.append(ours(t("release.needs_support"), size="Small"))
    return blocks


def _release_offer(
    case: Case, t: Texts, role: Role, now: datetime, viewer: frozenset[str]
) -> tuple[list[Card], list[Card]]:
    """The release part of an open case: its text and, for an approver, its buttons."""
    approver = role >= Role.APPROVER
    blocks = _release_problem(case, t)
    actions = [_support_link(t)] if case.release_needs_a_human else []
    if case.awaiting_approval:
        override = (
            t("release.override_reason", reason=shown(case.override_reason, 300))
            if case.override_reason
            else ""
        )
        when = t.ago(case.release_requested_at, now) if case.release_requested_at else "?"
        name = shown(case.release_requested_name or "?")
        requested = t("release.requested", actor=name, override=override, ago=when)
        blocks.append(text(requested, color="Warning"))
        if case.requested_by(set(viewer)):  # four eyes: the asker cannot approve their own
            blocks.append(ours(t("release.waiting_second"), isSubtle=True))
        elif approver:
            actions.append(_action(t, t("button.approve"), "approve_release", case))
        return blocks, actions
    ready = case.release_ready
    if unread := case.unread_evidence:
        missing = "; ".join(
            f"{t('section.' + u.name.value)}: {unread_reason(u.problem, t)}" for u in unread
        )
        blocks.append(text(t("release.unread", missing=missing), color="Warning"))
    else:
        blocks.append(ours(t("release.ready" if ready else "release.waiting")))
    if not approver:
        return blocks, actions
    title = t("button.retry_release" if case.release_problem else "button.release")
    release = _action(t, title, "release", case, style="positive")
    release["isEnabled"] = ready
    if ready:
        return blocks, [*actions, release]
    reason = {
        "type": "Input.Text",
        "id": "override_reason",
        "isMultiline": True,
        "label": t("input.override_reason"),
        "maxLength": 1000,
        "isRequired": True,
    }
    override_button = _action(t, t("button.override"), "release", case)
    override_card = _show_card(t("button.override"), [reason], [override_button])
    return blocks, [*actions, release, override_card]


def _release(
    case: Case, t: Texts, now: datetime, role: Role, viewer: frozenset[str]
) -> tuple[list[Card], list[Card]]:
    """The release part: what it says, and its buttons."""
    blocks: list[Card] = []
    actions: list[Card] = []
    released_by = shown(case.released_by_name) if case.released_by_name else t("release.someone")
    if case.state is CaseState.VERIFIED and case.ended_without_release:
        blocks.append(ours(t("release.verified_elsewhere"), color="Good"))
    elif case.state is CaseState.VERIFIED:
        blocks.append(ours(t("release.verified"), color="Good"))
    elif case.state is CaseState.RELEASING:
        blocks.append(text(t("release.releasing", actor=released_by), color="Accent"))
    elif case.state is CaseState.RELEASED and case.released_at:
        ago = t.ago(case.released_at, now)
        blocks.append(text(t("release.released", ago=ago, actor=released_by)))
        if case.follow_up_overdue(now):
            blocks.append(ours(t("release.late"), color="Attention"))
            actions.append(_support_link(t))
    elif case.is_open:
        offer, actions = _release_offer(case, t, role, now, viewer)
        blocks.extend(offer)
    return blocks, actions


def _closing(case: Case, t: Texts, role: Role) -> tuple[list[Card], list[Card]]:
    """Why a case that ended without a release ended, and the form to say so."""
    if not case.ended_without_release:
        return [], []
    blocks: list[Card] = []
    if case.close_reason is not None:
        said = t("close.given", reason=t("close." + case.close_reason.value))
        if case.close_comment:
            said += f": {shown(case.close_comment, 300)}"
        blocks.append(text(said, size="Small"))
    else:
        blocks.append(ours(t("close.none"), size="Small", isSubtle=True))
    change = role >= Role.APPROVER
    if role < Role.RESPONDER or not case.can_give_close_reason(change=change):
        return blocks, []
    choices = [{"title": t("close." + r.value), "value": r.value} for r in CloseReason]
    body: list[Card] = [
        {
            "type": "Input.ChoiceSet",
            "id": "close_reason",
            "style": "compact",
            "label": t("input.close_reason"),
            "value": (case.close_reason or CloseReason.HANDLED_ELSEWHERE).value,
            "choices": choices,
            "isRequired": True,
        },
        {
            "type": "Input.Text",
            "id": "close_comment",
            "label": t("input.close_comment"),
            "maxLength": CLOSE_COMMENT_LIMIT,
        },
    ]
    submit = _action(t, t("button.save"), "close_reason", case)
    return blocks, [_show_card(t("button.close_reason"), body, [submit])]


def _owner(case: Case, t: Texts, role: Role, viewer: frozenset[str]) -> tuple[Card, Card | None]:
    """Who owns the case, and Take (for a responder, if nobody does; approvers may take it
    over from someone else) when this viewer may."""
    if case.owner_id:
        who = t("owner.is", owner=shown(case.owner_name or case.owner_id, 80))
        line = text(who, size="Small", spacing="Small")
    else:
        line = ours(t("owner.none"), size="Small", isSubtle=True, spacing="Small")
    mine = case.owner_id in viewer if case.owner_id else False
    takes = (
        role >= Role.RESPONDER
        and not mine
        and any(case.can_take(i, reassign=role >= Role.APPROVER) for i in viewer or {""})
    )
    if not takes:
        return line, None
    label = "button.take_over" if case.owner_id else "button.take"
    return line, _action(t, t(label), "take_case", case)


def _notes(case: Case, t: Texts, now: datetime, shown_notes: int) -> list[Card]:
    """The newest notes, newest first."""
    if not case.notes:
        return []
    title = ours(t("notes.title", count=case.note_count), weight="Bolder")
    blocks: list[Card] = [_titled(title)]
    for note in case.notes[:shown_notes]:
        who = f"{shown(note.author_name or '?', 60)}, {t.ago(note.at, now)}"
        blocks.append(text(f"{shown(note.text, 300)} — {who}", size="Small", spacing="None"))
    if case.note_count > shown_notes:
        more = t("notes.more", count=case.note_count - min(shown_notes, len(case.notes)))
        blocks.append(ours(more, size="Small", isSubtle=True, spacing="None"))
    return blocks


def _note_form(case: Case, t: Texts) -> Card:
    note = {
        "type": "Input.Text",
        "id": "note",
        "isMultiline": True,
        "label": t("input.note"),
        "maxLength": NOTE_LIMIT,
        "isRequired": True,
    }
    return _show_card(t("button.note"), [note], [_action(t, t("button.save"), "add_note", case)])


def _ending(
    case: Case, t: Texts, now: datetime, role: Role, viewer: frozenset[str], fit: Fit
) -> list[Card]:
    """Notes, release (or how the case ended) and the card's last row of buttons."""
    blocks = _notes(case, t, now, fit.notes)
    said, actions = _release(case, t, now, role, viewer)
    closing, close_form = _closing(case, t, role)
    ending = said + closing
    if ending:  # the release part starts below a line, with no title of its own
        ending[0] = ending[0] | {"separator": True, "spacing": "Medium"}
    blocks += ending
    actions += close_form
    if role >= Role.RESPONDER:
        actions.append(_note_form(case, t))
    label = "button.refresh_mine" if role is Role.NONE else "button.refresh"
    actions.append(_action(t, t(label), "refresh_case", case))
    blocks.append({"type": "ActionSet", "actions": actions})
    return blocks


def render_case(
    case: Case,
    *,
    t: Texts,
    now: datetime,
    role: Role = Role.NONE,
    viewer: frozenset[str] = frozenset(),
    notice: Notice | None = None,
    previous_opened: datetime | None = None,
    budget: int = DEFAULT_BUDGET,
    cloud: Cloud = Cloud.PUBLIC,
) -> Card:
    """The whole case as `role` may act on it (`Role.NONE`: the role-neutral card everyone in
    a conversation shares), for the admin whose ids are `viewer`: who, why, evidence,
    checklist, release; within `budget` bytes (UTF-16), showing fewer findings per section
    (suspicious ones first) when the evidence is large."""
    card: Card = {}
    for fit in FITS:
        card = _case_card(case, t, now, role, viewer, notice, previous_opened, fit, cloud)
        card["refresh"] = refresh_action(case, t)
        if utf16_size(card) <= budget:
            return card
    return card


def _case_card(
    case: Case,
    t: Texts,
    now: datetime,
    role: Role,
    viewer: frozenset[str],
    notice: Notice | None,
    previous_opened: datetime | None,
    fit: Fit,
    cloud: Cloud,
) -> Card:
    reason = parse_reason(case.reason)
    since = t.ago(case.restricted_since, now) if case.restricted_since else "?"
    body: list[Card] = [
        heading(shown(case.display_name) if case.display_name else address(case.upn, t)),
        text(
            f"{address(case.upn, t)} · {t('case.state.' + case.state.value)}",
            spacing="None",
            isSubtle=True,
            color=_STATE_COLOR.get(case.state, "Default"),
        ),
        ours(
            t(
                f"reason.{reason.limit_type.value}",
                internal=t.number(reason.internal_recipients or 0),
                external=t.number(reason.external_recipients or 0),
            )
            + f" · {since}",
            size="Small",
            spacing="None",
        ),
    ]
    owner, take = _owner(case, t, role, viewer)
    body.append(owner)
    # Take and the portal links share one row of buttons under the header.
    actions = ([take] if take else []) + (portal_links(cloud, case.user_id, t) if fit.links else [])
    if actions:
        body.append({"type": "ActionSet", "actions": actions, "spacing": "Small"})
    if previous_opened is not None:
        body.append(ours(t("case.previous", ago=t.ago(previous_opened, now)), color="Warning"))
    if notice is not None:
        body.append(ours(t(notice.value), color="Accent", weight="Bolder"))
    body += _summary(case, t, fit) + _checklist(case, t, role)
    body += _ending(case, t, now, role, viewer, fit)
    return adaptive_card(body)
