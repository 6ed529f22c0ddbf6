"""The checklist on the case card: a strip of status icons, rows for the steps that need
attention, the forms (choose rules, review sign-in methods, skip with a reason) and the words of
every step's outcome. Which step may run is asked of `Case`."""

from __future__ import annotations

from typing import Any

from bot.cases.model import Case, Step
from bot.cases.outcomes import Note, StepName, StepStatus
from bot.cases.sections import mfa, rules
from bot.core.people import Role
from bot.i18n import Texts
from cards.common import Card, column, execute, ours, problem_text, shown, text, titled
from cards.verbs import OnCase, RefreshCase, RunRecommended, RunStep, SkipStep

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


STEP_ID = "step_"  # + the step's name: a checklist row that starts hidden


FORMS_ID = "step_forms"  # the checklist's forms (choose rules, review methods, skip)


ATTENTION = frozenset({StepStatus.RUNNING, StepStatus.FAILED, StepStatus.INTERRUPTED})


FINISHED = frozenset({StepStatus.DONE, StepStatus.SKIPPED})


MAX_RULE_CHOICES = 10


def case_action(
    t: Texts,
    title: str,
    verb: type[OnCase | RefreshCase],
    case: Case,
    *,
    style: str | None = None,
    **extra: Any,
) -> Card:
    """A button on the case card: `verb` with the case, its version and the card's language."""
    click = verb.button(case=case.id, version=case.version, lang=t.lang, **extra)
    return execute(title, click, style=style)


# The words of each stored outcome code (bot/cases/model.py `Note`).
NOTE_KEYS = {
    Note.PASSWORD_RESET: "step.reset_password.done",
    Note.SESSIONS_REVOKED: "step.revoke_sessions.done",
    Note.FORWARDING_REMOVED: "step.remove_forwarding.done",
    Note.NO_FORWARDING: "step.remove_forwarding.none",
    Note.RULES_DISABLED: "step.disable_rules.done",
    Note.NO_RULES: "step.disable_rules.none",
    Note.SIGN_IN_BLOCKED: "step.block_sign_in.done",
    Note.ROLES_REMOVED: "step.remove_roles.done",
    Note.NO_ROLES: "step.remove_roles.none",
    Note.MFA_CONFIRMED: "step.review_mfa.done",
    Note.MFA_REMOVED: "step.review_mfa.removed",
    Note.NEW_METHODS: "step.review_mfa.new",
    Note.FEDERATED: "step.federated",
    Note.PASSWORD_NOT_DELIVERED: "step.reset_password.not_delivered",
    Note.SKIPPED: "step.skipped",
    Note.INTERRUPTED: "step.interrupted",
    Note.PASSWORD_RESET_UNTOLD: "step.reset_password.untold",
    Note.ALREADY_BLOCKED: "step.block_sign_in.already",
    Note.ON_PREMISES: "step.block_sign_in.on_premises",
    Note.UNDONE: "step.undone",
    Note.SIGN_IN_ALLOWED: "step.block_sign_in.allowed",
}


def step_detail_text(step: Step, t: Texts) -> str:
    """What a step's outcome says, in the admin's language."""
    detail = step.detail
    if detail is None:
        return ""
    if detail.note is Note.FAILED:
        return problem_text(detail.problem, t)
    return t(
        NOTE_KEYS[detail.note],
        why=problem_text(detail.problem, t),
        actor=shown(step.actor_name or "?"),
        names=", ".join(shown(n, 60) for n in detail.names[:MAX_RULE_CHOICES]),
        count=len(detail.names),
        old=shown(detail.old),
        reason=shown(detail.reason, 300),
    )


def _choices(pairs: list[tuple[str, str]]) -> list[Card]:
    return [{"title": shown(title, 60), "value": value} for title, value in pairs]


def pick(t: Texts, choice_id: str, label: str, pairs: list[tuple[str, str]], **extra: Any) -> Card:
    return {
        "type": "Input.ChoiceSet",
        "id": choice_id,
        "isMultiSelect": True,
        "style": "expanded",
        "label": t(label),
        "choices": _choices(pairs),
        **extra,
    }


def show_card(title: str, body: list[Card], actions: list[Card]) -> Card:
    card = {"type": "AdaptiveCard", "body": body, "actions": actions}
    return {"type": "Action.ShowCard", "title": title, "card": card}


def refresh_action(case: Case, t: Texts) -> Card:
    """The card-level `refresh`: Teams fetches each viewer's own card with it."""
    data = RefreshCase.button(case=case.id, version=case.version, lang=t.lang).data()
    return {"action": {"type": "Action.Execute", "verb": RefreshCase.verb, "data": data}}


def _row_button(case: Case, step: StepName, t: Texts) -> Card | None:
    """The button in a step's row: Run (Retry), or Confirm for sign-in methods with nothing
    flagged; steps that need a choice also get a form below the table (`_forms`)."""
    if not case.can_start(step):
        return None
    if step is StepName.REVIEW_MFA:
        if mfa.flagged(case.evidence):
            return None  # the methods are reviewed in the form ("Review sign-in methods…")
        return case_action(t, t("button.confirm"), RunStep, case, step=step)
    title = t("button.retry") if case.can_retry(step) else t("button.run")
    return case_action(t, title, RunStep, case, step=step)


def _forms(case: Case, t: Texts) -> list[Card]:
    """The checklist's forms: choose which rules to disable, review flagged sign-in methods,
    skip a step with a reason."""
    evidence = case.evidence
    forms: list[Card] = []
    choices = rules.flagged(evidence)[:MAX_RULE_CHOICES]
    if case.can_start(StepName.DISABLE_RULES) and choices:
        pairs = [(r.name, r.rule_id) for r in choices]
        chosen = pick(t, "rules", "input.rules", pairs, value=",".join(v for _, v in pairs))
        run = case_action(t, t("button.disable"), RunStep, case, step=StepName.DISABLE_RULES)
        forms.append(show_card(t("button.choose_rules"), [chosen], [run]))
    methods = mfa.flagged(evidence)[:MAX_RULE_CHOICES]
    if case.can_start(StepName.REVIEW_MFA) and methods:
        pairs = [(m.label, m.method_id) for m in methods]
        chosen = pick(t, "remove", "input.remove_methods", pairs)
        confirm = case_action(t, t("button.confirm"), RunStep, case, step=StepName.REVIEW_MFA)
        forms.append(show_card(t("button.review"), [chosen], [confirm]))
    if case.skippable:
        forms.append(_skip_card(case, case.skippable, t))
    return forms


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
    columns = [column(items, "stretch")]
    button = _row_button(case, step, t) if role >= Role.RESPONDER else None
    if button is not None:
        columns.append(column([{"type": "ActionSet", "actions": [button]}], "auto"))
    row: Card = {"type": "ColumnSet", "columns": columns, "spacing": "Small"}
    if state.status not in ATTENTION:
        row.update(id=STEP_ID + step.value, isVisible=False)
    return row


def _strip(case: Case) -> str:
    """Every step's status in one line: "✅ 1  ⏳ 2  ⬜ 3 …"."""
    return "   ".join(f"{_ICON[case.step(s).status]} {n}" for n, s in enumerate(StepName, 1))


def checklist(case: Case, t: Texts, role: Role) -> list[Card]:
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
    blocks: list[Card] = [titled(title, head, *toggles)]
    if responder and case.can_run_recommended:
        run = case_action(t, t("button.recommended"), RunRecommended, case)
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
    submit = case_action(t, t("button.skip"), SkipStep, case)
    return show_card(t("button.skip"), body, [submit])
