"""The case card: evidence, the checklist as buttons, and release with its approvals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from bot.cases.investigation import SECTIONS, suspicious_methods, suspicious_rules
from bot.cases.model import (
    CLOSED_STATES,
    RECOMMENDED,
    SETTLED,
    Case,
    CaseState,
    StepName,
    StepStatus,
)
from bot.domain import parse_reason
from bot.i18n import Texts
from cards.common import Card, adaptive_card, execute, heading, text, utf16_size

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


def _action(
    t: Texts, title: str, verb: str, case: Case, *, style: str | None = None, **extra: Any
) -> Card:
    data = {"case": case.id, "version": case.version, "lang": t.lang, **extra}
    return execute(title, verb, data, style=style)


def _detail(raw: str, t: Texts) -> str:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return raw
    if not isinstance(data, dict) or "key" not in data:
        return raw
    try:
        return t(str(data["key"]), **(data.get("values") or {}))
    except (KeyError, IndexError):
        return str(data["key"])


FINDINGS_PER_SECTION = (8, 4, 2, 1, 0)  # tried in turn until the card fits its budget
DEFAULT_BUDGET = 28_000  # UTF-16 bytes for the card; the activity around it needs the rest
MAX_RULE_CHOICES = 10
MAX_TEXT = 120


def _short(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def _finding_line(section: str, item: dict[str, Any], t: Texts) -> Card:
    words = _short(str(item.get("text", "")))
    if section == "sent":
        words = t(
            "fact.sent",
            count=item.get("text"),
            recipients=item.get("recipients", 0),
            external=item.get("external", 0),
        )
    elif section == "sign_ins" and item.get("kind") in ("countries", "travel", "failures"):
        words = t(
            f"fact.{item['kind']}",
            text=item.get("text"),
            count=item.get("count", 0),
            failures=item.get("failures", 0),
            minutes=item.get("minutes", 0),
        )
    elif section == "rules" and item.get("recipients"):
        words += " → " + ", ".join(item["recipients"][:3])
    elif section == "rules" and item.get("folder"):
        words += " → " + str(item["folder"])
    why = [t(f"why.{w}") for w in item.get("why") or []]
    if item.get("suspicious"):
        return text(
            f"⚠ {words} — {', '.join(why)}", color="Attention", size="Small", spacing="None"
        )
    return text(f"• {words}", size="Small", spacing="None", isSubtle=True)


def _section(name: str, data: dict[str, Any], t: Texts, limit: int) -> list[Card]:
    blocks: list[Card] = [
        text(t(f"section.{name}"), weight="Bolder", size="Small", spacing="Small")
    ]
    status = data.get("status")
    if status == "unavailable":
        key = f"section.unavailable.{data.get('reason', 'permission')}"
        blocks.append(
            text(
                t(key, missing=data.get("missing", "?")),
                size="Small",
                isSubtle=True,
                spacing="None",
            )
        )
    elif status == "error":
        blocks.append(text(t("section.error"), size="Small", isSubtle=True, spacing="None"))
    elif not data.get("items"):
        blocks.append(text(t("section.none"), size="Small", isSubtle=True, spacing="None"))
    else:
        ordered = sorted(data["items"], key=lambda i: not i.get("suspicious"))
        blocks.extend(_finding_line(name, item, t) for item in ordered[:limit])
        if len(ordered) > limit:
            blocks.append(
                text(f"… +{len(ordered) - limit}", size="Small", isSubtle=True, spacing="None")
            )
    return blocks


def _evidence(case: Case, t: Texts, limit: int) -> list[Card]:
    blocks: list[Card] = [text(t("case.investigation"), weight="Bolder", separator=True)]
    evidence = case.evidence
    if evidence is None:
        blocks.append(text(t("case.investigating"), isSubtle=True))
        return blocks
    if evidence.get("error"):
        error = evidence["error"]
        blocks.append(
            text(
                t("case.evidence_failed", message=t(error["key"], **error["values"])),
                color="Attention",
            )
        )
        return blocks
    sections = evidence.get("sections") or {}
    for name in SECTIONS:
        if name in sections:
            blocks.extend(_section(name, sections[name], t, limit))
    return blocks


def _step_buttons(case: Case, step: StepName, t: Texts) -> list[Card]:
    status = case.step(step).status
    if (
        status in SETTLED
        or status is StepStatus.RUNNING
        or case.state
        not in (
            CaseState.RESTRICTED,
            CaseState.INVESTIGATING,
            CaseState.REMEDIATING,
            CaseState.READY,
        )
    ):
        return []
    title = (
        t("button.retry")
        if status in (StepStatus.FAILED, StepStatus.INTERRUPTED)
        else t("button.run")
    )
    if step is StepName.REVIEW_MFA:
        flagged = suspicious_methods(case.evidence)[:MAX_RULE_CHOICES]
        confirm = _action(t, t("button.confirm"), "run_step", case, step=step.value)
        if not flagged:
            return [confirm]
        pick = {
            "type": "Input.ChoiceSet",
            "id": "remove",
            "isMultiSelect": True,
            "style": "expanded",
            "label": t("input.remove_methods"),
            "choices": [
                {"title": _short(str(m["text"]))[:60], "value": str(m["id"])} for m in flagged
            ],
        }
        return [
            {
                "type": "Action.ShowCard",
                "title": t("button.review"),
                "card": {"type": "AdaptiveCard", "body": [pick], "actions": [confirm]},
            }
        ]
    if step is StepName.DISABLE_RULES and suspicious_rules(case.evidence):
        choices = [
            {"title": _short(str(r["text"]))[:60], "value": str(r["id"])}
            for r in suspicious_rules(case.evidence)[:MAX_RULE_CHOICES]
        ]
        pick = {
            "type": "Input.ChoiceSet",
            "id": "rules",
            "isMultiSelect": True,
            "style": "expanded",
            "label": t("input.rules"),
            "choices": choices,
            "value": ",".join(c["value"] for c in choices),
        }
        run: Card = {
            "type": "Action.ShowCard",
            "title": title,
            "card": {
                "type": "AdaptiveCard",
                "body": [pick],
                "actions": [_action(t, title, "run_step", case, step=step.value)],
            },
        }
        buttons = [run]
    else:
        buttons = [_action(t, title, "run_step", case, step=step.value)]
    return buttons


def _step_row(case: Case, step: StepName, t: Texts) -> Card:
    state = case.step(step)
    line = f"{t('step.' + step.value)} — {t('status.' + state.status.value)}"
    items: list[Card] = [
        text(line, size="Small", weight="Bolder", color=_STATUS_COLOR.get(state.status, "Default"))
    ]
    if state.detail:
        detail = _detail(state.detail, t).replace("{actor}", state.actor_name)
        if state.actor_name:
            detail += " (" + t("step.by", actor=state.actor_name) + ")"
        items.append(text(detail, size="Small", isSubtle=True, spacing="None"))
    buttons = _step_buttons(case, step, t)
    if buttons:
        items.append({"type": "ActionSet", "actions": buttons, "spacing": "Small"})
    return {"type": "Container", "items": items, "spacing": "Small"}


def _checklist(case: Case, t: Texts) -> list[Card]:
    blocks: list[Card] = [text(t("case.checklist"), weight="Bolder", separator=True)]
    open_state = case.state in (
        CaseState.RESTRICTED,
        CaseState.INVESTIGATING,
        CaseState.REMEDIATING,
    )
    if open_state and not case.checklist_done:
        blocks.append(
            {
                "type": "ActionSet",
                "actions": [_action(t, t("button.recommended"), "run_recommended", case)],
            }
        )
    blocks.extend(_step_row(case, step, t) for step in StepName)
    skippable = [
        s
        for s in RECOMMENDED
        if case.step(s).status not in SETTLED and case.step(s).status is not StepStatus.RUNNING
    ]
    if (
        skippable
        and case.state not in CLOSED_STATES
        and case.state not in (CaseState.RELEASING, CaseState.RELEASED)
    ):
        blocks.append({"type": "ActionSet", "actions": [_skip_card(case, skippable, t)]})
    return blocks


def _skip_card(case: Case, steps: list[StepName], t: Texts) -> Card:
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
    return {
        "type": "Action.ShowCard",
        "title": t("button.skip"),
        "card": {
            "type": "AdaptiveCard",
            "body": body,
            "actions": [_action(t, t("button.skip"), "skip_step", case)],
        },
    }


def _release(case: Case, t: Texts, now: datetime) -> list[Card]:
    blocks: list[Card] = [text(t("release.title"), weight="Bolder", separator=True)]
    actions: list[Card] = []
    if case.state is CaseState.VERIFIED:
        blocks.append(text(t("release.verified"), color="Good"))
    elif case.state is CaseState.RELEASED and case.released_at:
        blocks.append(text(t("release.released", ago=t.ago(case.released_at, now))))
        if now - case.released_at > timedelta(hours=24):
            blocks.append(text(t("release.late"), color="Attention"))
            actions.append(
                {"type": "Action.OpenUrl", "title": t("release.support"), "url": SUPPORT_URL}
            )
    elif case.state not in CLOSED_STATES and case.state is not CaseState.RELEASING:
        if case.release_requested_by:
            override = (
                t("release.override_reason", reason=case.override_reason)
                if case.override_reason
                else ""
            )
            blocks.append(
                text(
                    t(
                        "release.requested",
                        actor=case.release_requested_name or "?",
                        override=override,
                    ),
                    color="Warning",
                )
            )
            actions.append(_action(t, t("button.approve"), "approve_release", case))
        else:
            ready = case.checklist_done
            blocks.append(text(t("release.ready" if ready else "release.waiting")))
            release = _action(t, t("button.release"), "release", case, style="positive")
            release["isEnabled"] = ready
            reason = {
                "type": "Input.Text",
                "id": "override_reason",
                "isMultiline": True,
                "label": t("input.override_reason"),
                "maxLength": 1000,
                "isRequired": True,
            }
            override_card = {
                "type": "Action.ShowCard",
                "title": t("button.override"),
                "card": {
                    "type": "AdaptiveCard",
                    "body": [reason],
                    "actions": [_action(t, t("button.override"), "release", case)],
                },
            }
            actions.extend([release] if ready else [release, override_card])
    actions.append(_action(t, t("button.refresh"), "refresh_case", case))
    blocks.append({"type": "ActionSet", "actions": actions})
    return blocks


def case_card(
    case: Case,
    *,
    t: Texts,
    now: datetime,
    notice: str | None = None,
    previous_opened: datetime | None = None,
    budget: int = DEFAULT_BUDGET,
) -> Card:
    """The whole case: who, why, evidence, checklist, release; within `budget` bytes (UTF-16),
    showing fewer findings per section (suspicious ones first) when the evidence is large."""
    card: Card = {}
    for limit in FINDINGS_PER_SECTION:
        card = _case_card(case, t, now, notice, previous_opened, limit)
        if utf16_size(card) <= budget:
            break
    return card


def _case_card(
    case: Case,
    t: Texts,
    now: datetime,
    notice: str | None,
    previous_opened: datetime | None,
    limit: int,
) -> Card:
    reason = parse_reason(case.reason)
    since = t.ago(case.restricted_since, now) if case.restricted_since else "?"
    body: list[Card] = [
        heading(case.display_name or case.upn),
        text(
            f"{case.upn} · {t('case.state.' + case.state.value)}",
            spacing="None",
            isSubtle=True,
            color=_STATE_COLOR.get(case.state, "Default"),
        ),
        text(
            t(
                f"reason.{reason.limit_type.value}",
                internal=t.number(reason.internal_recipients or 0),
                external=t.number(reason.external_recipients or 0),
            )
            + f" · {since}",
            size="Small",
        ),
    ]
    if previous_opened is not None:
        body.append(text(t("case.previous", ago=t.ago(previous_opened, now)), color="Warning"))
    if notice:
        body.append(text(t(notice), color="Accent", weight="Bolder"))
    if notice == "notice.unblock_limit":
        body.append(
            {
                "type": "ActionSet",
                "actions": [
                    {"type": "Action.OpenUrl", "title": t("release.support"), "url": SUPPORT_URL}
                ],
            }
        )
    body += _evidence(case, t, limit) + _checklist(case, t) + _release(case, t, now)
    return adaptive_card(body)
