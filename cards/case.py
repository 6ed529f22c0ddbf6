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
    Case,
    CaseState,
    Note,
    Notice,
    Role,
    Step,
    StepName,
    StepStatus,
)
from bot.errors import Problem, ProblemKind
from bot.i18n import Texts
from bot.tenant.parse import parse_reason
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
FINDINGS_PER_SECTION = (8, 4, 2, 1, 0)  # tried in turn until the card fits its budget
DEFAULT_BUDGET = 28_000  # UTF-16 bytes for the card; the activity around it needs the rest
MAX_RULE_CHOICES = 10
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


def _section(section: Section, t: Texts, limit: int) -> list[Card]:
    title = ours(t(f"section.{section.name.value}"), weight="Bolder", size="Small", spacing="Small")
    blocks: list[Card] = [title]
    subtle = {"size": "Small", "isSubtle": True, "spacing": "None"}
    if (state := _section_state(section, t)) is not None:
        blocks.append(text(state, **subtle))
    elif not section.findings:
        blocks.append(ours(t("section.none"), **subtle))
    else:
        ordered = sorted(section.findings, key=lambda f: not suspicious(f))
        blocks.extend(_finding_line(f, t) for f in ordered[:limit])
        if len(ordered) > limit:
            blocks.append(ours(f"… +{len(ordered) - limit}", **subtle))
    return blocks


def _evidence(case: Case, t: Texts, limit: int) -> list[Card]:
    blocks: list[Card] = [ours(t("case.investigation"), weight="Bolder", separator=True)]
    evidence = case.evidence
    if evidence is None:
        blocks.append(ours(t("case.investigating"), isSubtle=True))
        return blocks
    if evidence.failure is not None:
        message = problem_text(evidence.failure, t)
        blocks.append(text(t("case.evidence_failed", message=message), color="Attention"))
        return blocks
    for name in SectionName:
        if (section := evidence.section(name)) is not None:
            blocks.extend(_section(section, t, limit))
    return blocks


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


def _step_buttons(case: Case, step: StepName, t: Texts) -> list[Card]:
    if not case.can_start(step):
        return []
    title = t("button.retry") if case.can_retry(step) else t("button.run")
    run = _action(t, title, "run_step", case, step=step.value)
    evidence = case.evidence
    if step is StepName.REVIEW_MFA:
        methods = evidence.suspicious_methods()[:MAX_RULE_CHOICES] if evidence else []
        confirm = _action(t, t("button.confirm"), "run_step", case, step=step.value)
        if not methods:
            return [confirm]
        pick = _pick(t, "remove", "input.remove_methods", [(m.label, m.method_id) for m in methods])
        return [_show_card(t("button.review"), [pick], [confirm])]
    rules = evidence.suspicious_rules()[:MAX_RULE_CHOICES] if evidence else []
    if step is StepName.DISABLE_RULES and rules:
        pairs = [(r.name, r.rule_id) for r in rules]
        pick = _pick(t, "rules", "input.rules", pairs, value=",".join(v for _, v in pairs))
        return [_show_card(title, [pick], [run])]
    return [run]


def _step_row(case: Case, step: StepName, t: Texts, role: Role) -> Card:
    state = case.step(step)
    line = f"{t('step.' + step.value)} — {t('status.' + state.status.value)}"
    color = _STATUS_COLOR.get(state.status, "Default")
    items: list[Card] = [ours(line, size="Small", weight="Bolder", color=color)]
    if detail := step_detail_text(state, t):
        if state.actor_name and shown(state.actor_name) not in detail:
            detail += " (" + t("step.by", actor=shown(state.actor_name)) + ")"
        items.append(text(detail, size="Small", isSubtle=True, spacing="None"))
    buttons = _step_buttons(case, step, t) if role >= Role.RESPONDER else []
    if buttons:
        items.append({"type": "ActionSet", "actions": buttons, "spacing": "Small"})
    return {"type": "Container", "items": items, "spacing": "Small"}


def _checklist(case: Case, t: Texts, role: Role) -> list[Card]:
    blocks: list[Card] = [ours(t("case.checklist"), weight="Bolder", separator=True)]
    responder = role >= Role.RESPONDER
    if responder and case.can_run_recommended:
        run = _action(t, t("button.recommended"), "run_recommended", case)
        blocks.append({"type": "ActionSet", "actions": [run]})
    blocks.extend(_step_row(case, step, t, role) for step in StepName)
    if responder and case.skippable:
        blocks.append({"type": "ActionSet", "actions": [_skip_card(case, case.skippable, t)]})
    return blocks


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


def _release(case: Case, t: Texts, now: datetime, role: Role, viewer: frozenset[str]) -> list[Card]:
    blocks: list[Card] = [ours(t("release.title"), weight="Bolder", separator=True)]
    actions: list[Card] = []
    released_by = shown(case.released_by_name) if case.released_by_name else t("release.someone")
    if case.state is CaseState.VERIFIED:
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
    for limit in FINDINGS_PER_SECTION:
        for links in (True, False):  # the evidence matters more than the portal links
            card = _case_card(
                case, t, now, role, viewer, notice, previous_opened, limit, cloud if links else None
            )
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
    limit: int,
    cloud: Cloud | None,
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
        ),
    ]
    if cloud is not None and (links := portal_links(cloud, case.user_id, t)):
        body.append({"type": "ActionSet", "actions": links, "spacing": "Small"})
    if previous_opened is not None:
        body.append(ours(t("case.previous", ago=t.ago(previous_opened, now)), color="Warning"))
    if notice is not None:
        body.append(ours(t(notice.value), color="Accent", weight="Bolder"))
    body += _evidence(case, t, limit) + _checklist(case, t, role)
    body += _release(case, t, now, role, viewer)
    return adaptive_card(body)
