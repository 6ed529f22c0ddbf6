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

from bot.cases.model import (
    CLOSE_COMMENT_LIMIT,
    NOTE_LIMIT,
    Case,
    CaseState,
    CloseReason,
    Notice,
)
from bot.core.m365 import parse_reason
from bot.core.people import Role
from bot.errors import ProblemKind
from bot.i18n import Texts
from cards.checklist import (
    case_action,
    checklist,
    refresh_action,
    show_card,
)
from cards.common import (
    Card,
    adaptive_card,
    address,
    heading,
    ours,
    problem_text,
    shown,
    text,
    titled,
    utf16_size,
)
from cards.containment import containment_blocks
from cards.evidence import FITS, Fit, summary, unread_reason
from cards.portals import Cloud, portal_links
from cards.verbs import AddNote, ApproveRelease, GiveCloseReason, RefreshCase, Release, TakeCase

SUPPORT_URL = "https://admin.microsoft.com/#/support"
_STATE_COLOR = {
    CaseState.READY: "Good",
    CaseState.VERIFIED: "Good",
    CaseState.RELEASED: "Accent",
    CaseState.RE_RESTRICTED: "Attention",
}
DEFAULT_BUDGET = 35_500  # UTF-16 bytes: the default CARD_BUDGET_BYTES less ENVELOPE_ALLOWANCE


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
            actions.append(case_action(t, t("button.approve"), ApproveRelease, case))
        return blocks, actions
    ready = case.release_ready
    if unread := case.unread_evidence:
        missing = "; ".join(
            f"{t('section.' + u.name)}: {unread_reason(u.problem, t)}" for u in unread
        )
        blocks.append(text(t("release.unread", missing=missing), color="Warning"))
    else:
        blocks.append(ours(t("release.ready" if ready else "release.waiting")))
    if not approver:
        return blocks, actions
    title = t("button.retry_release" if case.release_problem else "button.release")
    release = case_action(t, title, Release, case, style="positive")
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
    override_button = case_action(t, t("button.override"), Release, case)
    override_card = show_card(t("button.override"), [reason], [override_button])
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
    submit = case_action(t, t("button.save"), GiveCloseReason, case)
    return blocks, [show_card(t("button.close_reason"), body, [submit])]


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
    return line, case_action(t, t(label), TakeCase, case)


def _notes(case: Case, t: Texts, now: datetime, shown_notes: int) -> list[Card]:
    """The newest notes, newest first."""
    if not case.notes:
        return []
    title = ours(t("notes.title", count=case.note_count), weight="Bolder")
    blocks: list[Card] = [titled(title)]
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
    return show_card(t("button.note"), [note], [case_action(t, t("button.save"), AddNote, case)])


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
    actions.append(case_action(t, t(label), RefreshCase, case))
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
    contained, ways_back = containment_blocks(case, t, role)
    body += contained
    if ways_back:
        body.append({"type": "ActionSet", "actions": ways_back, "spacing": "Small"})
    body += summary(case, t, fit) + checklist(case, t, role)
    body += _ending(case, t, now, role, viewer, fit)
    return adaptive_card(body)
