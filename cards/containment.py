"""The automatic containment policy on the case card: one line saying what it did (or would
have done, or why it did not act), and the ways back: Undo containment (approvers, confirmed
first) and Give the account back (responders)."""

from __future__ import annotations

from bot.cases.contained import Containment, Mode, Work
from bot.cases.model import Case
from bot.cases.strength import Sign, Verdict
from bot.core.people import Role
from bot.i18n import Texts
from cards.checklist import case_action, show_card
from cards.common import Card, ours, problem_text, shown, text
from cards.verbs import GiveBack, UndoContainment


def signs_text(signs: tuple[Sign, ...], t: Texts) -> str:
    """ "external forwarding, a hidden inbox rule and high user risk"."""
    words = [t("sign." + s.value) for s in signs]
    if len(words) < 2:
        return "".join(words)
    return t("sign.and", first=", ".join(words[:-1]), last=words[-1])


def why_not(record: Containment, t: Texts) -> str:
    """Why the policy did not act, in one line."""
    if record.hold is not None:
        return t("contain.hold." + record.hold.value)
    if record.verdict is Verdict.UNREAD:
        sections = ", ".join(t("section." + n) for n in record.unread)
        return t("contain.unread", sections=sections)
    if Sign.FORWARDING in record.signs:
        return t("contain.weak.forwarding_only")
    if record.signs:
        return t("contain.weak.one", sign=signs_text(record.signs, t))
    return t("contain.weak.none")


def containment_line(case: Case, t: Texts) -> str:
    """What the policy did, would have done or why it did not act, in one line."""
    record = case.containment
    if record is None:
        return ""
    signs = signs_text(record.signs, t)
    if record.verdict is Verdict.PENDING:
        return t("contain.pending")
    if record.undone_at is not None:
        line = t("contain.undone", actor=shown(record.undone_by, 80), at=t.clock(record.undone_at))
        if record.kept:
            kept = ", ".join(t("contain.kept." + s.value) for s in record.kept)
            line += " " + t("contain.kept", what=kept)
        return line
    if record.would_act:
        return t("contain.dry_run", signs=signs)
    if not record.acts:
        line = t("contain.not", why=why_not(record, t))
        return line + (" " + t("contain.dry_run_note") if record.mode is Mode.DRY_RUN else "")
    if record.contained_at is None:
        return t("contain.running", signs=signs)
    after = ""
    if case.restricted_since is not None:
        seconds = max(0, round((record.contained_at - case.restricted_since).total_seconds()))
        after = t("contain.after", seconds=t.number(seconds))
    key = "contain.stopped" if record.stopped else "contain.done"
    if record.by:  # an admin's bulk action, not the policy
        key = "contain.bulk_stopped" if record.stopped else "contain.bulk_done"
    line = t(
        key, at=t.clock(record.contained_at), after=after, signs=signs, actor=shown(record.by, 80)
    )
    return line + (" " + t("contain.admin") if record.admin else "")


def containment_blocks(case: Case, t: Texts, role: Role) -> tuple[list[Card], list[Card]]:
    """The line (and a failed undo or give-back) and, for those who may, its buttons."""
    record = case.containment
    if record is None or record.mode is Mode.OFF:
        return [], []
    acted = record.acts or record.would_act
    style = {"weight": "Bolder"} if acted else {"isSubtle": True}
    blocks: list[Card] = [text(containment_line(case, t), size="Small", **style)]
    work = record.in_flight
    if work is not None and work.work is not Work.CONTAIN:
        said = t("contain.work." + work.work.value, actor=shown(work.actor_name, 80))
        blocks.append(text(said, size="Small", color="Accent"))
    if record.problem is not None:
        failed = t("contain.work_failed", why=problem_text(record.problem, t))
        blocks.append(text(failed, size="Small", color="Attention"))
    if record.given_back_at is not None:
        given = t("contain.given_back", actor=shown(record.given_back_by, 80))
        blocks.append(text(given, size="Small", spacing="None"))
    actions: list[Card] = []
    if role >= Role.RESPONDER and case.can_give_back:
        actions.append(case_action(t, t("button.give_back"), GiveBack, case))
    if role >= Role.APPROVER and case.can_undo_containment:
        confirm = ours(t("contain.undo_confirm"), size="Small")
        undo = case_action(t, t("button.undo_confirm"), UndoContainment, case)
        actions.append(show_card(t("button.undo_containment"), [confirm], [undo]))
    return blocks, actions
