"""The checklist steps: each does one thing in the tenant and reports what changed.

A step that acts on evidence (rules, forwarding, roles, MFA methods) reads that section itself,
fresh, when it runs (`StepRun.read`, which also records the read on the case): a rule created
after the investigation is caught, and a section that cannot be read fails the step with the
reason. No step finishes "nothing to do" without having looked.

The temporary password of a reset lives only in this module's local variables and in the one
private message to the admin who clicked; it is never returned, stored, logged or audited.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.cases.evidence import Section, SectionName
from bot.cases.model import (
    Case,
    ForwardingUndo,
    MethodRef,
    MethodsUndo,
    Note,
    RoleRef,
    RolesUndo,
    RulesUndo,
    SignInUndo,
    StepDetail,
    StepName,
    StepStatus,
    Undo,
)
from bot.cases.sections import forwarding, mfa, roles, rules
from bot.cases.sections.forwarding import ForwardingFinding
from bot.cases.sections.mfa import MethodFinding
from bot.cases.sections.roles import RoleFinding
from bot.cases.sections.rules import RuleFinding
from bot.cases.tenant_ports import Tenant
from bot.errors import NotDelivered, Problem, ProblemKind, TenantRequestFailed, problem_of

PrivateMessage = Callable[[str], Awaitable[None]]
ReadSection = Callable[[SectionName], Awaitable[Section]]
_SYMBOLS = "!#$%&*+-=?@^_"


@dataclass(frozen=True)
class StepOptions:
    """What the admin picked on the card: rules to disable (None: every flagged one) and
    flagged sign-in methods to remove."""

    rules: tuple[str, ...] | None = None
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """How a step ended: status, what it says, and how to undo it."""

    status: StepStatus
    detail: StepDetail
    undo: Undo | None = None

    def facts(self) -> dict[str, str]:
        """What the audit trail records about the outcome (never a secret)."""
        found: dict[str, str] = {}
        if self.detail.names:
            found["names"] = ", ".join(self.detail.names)
            found["count"] = str(len(self.detail.names))
        if self.detail.old:
            found["old"] = self.detail.old
        return found


@dataclass(frozen=True)
class StepRun:
    """What a step needs: the case, the tenant, options and the private channel."""

    case: Case
    tenant: Tenant
    options: StepOptions
    tell_privately: PrivateMessage
    read: ReadSection


def temporary_password(length: int = 20) -> str:
    """A random password with lower, upper, digits and symbols (Entra's complexity rules)."""
    pools = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _SYMBOLS)
    chars = [secrets.choice(pool) for pool in pools]
    chars += [secrets.choice("".join(pools)) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _user_id(run: StepRun) -> str:
    if not run.case.user_id:
        raise TenantRequestFailed("the user's directory id is unknown")
    return run.case.user_id


def _done(
    note: Note, undo: Undo | None = None, *, names: tuple[str, ...] = (), old: str = ""
) -> Outcome:
    return Outcome(StepStatus.DONE, StepDetail(note, names=names, old=old), undo)


async def reset_password(run: StepRun) -> Outcome:
    """Random strong password, change forced at next sign-in, told only to the clicker."""
    password = temporary_password()
    try:
        await run.tenant.reset_password(_user_id(run), password)
    except TenantRequestFailed as err:
        if "federated" in str(err).lower():
            return Outcome(StepStatus.FAILED, StepDetail(Note.FEDERATED))
        raise
    try:
        await run.tell_privately(password)
    except NotDelivered as err:
        # The password was changed and nobody has it: say so, and Retry sets a new one.
        detail = StepDetail(Note.PASSWORD_NOT_DELIVERED, problem=problem_of(err))
        return Outcome(StepStatus.FAILED, detail)
    return _done(Note.PASSWORD_RESET)


async def revoke_sessions(run: StepRun) -> Outcome:
    """Invalidate refresh tokens and session cookies."""
    await run.tenant.revoke_sessions(_user_id(run))
    return _done(Note.SESSIONS_REVOKED)


def _unreadable(section: Section) -> Outcome:
    """The step could not look at what it acts on: it failed, and says why."""
    problem = section.problem or Problem(ProblemKind.FAILED)
    return Outcome(StepStatus.FAILED, StepDetail.failed(problem))


async def remove_forwarding(run: StepRun) -> Outcome:
    """Clear mailbox forwarding, recording the old value."""
    section = await run.read(forwarding.NAME)
    if not section.read:
        return _unreadable(section)
    found = [f for f in section.findings if isinstance(f, ForwardingFinding)]
    if not found:
        return _done(Note.NO_FORWARDING)
    await run.tenant.clear_forwarding(run.case.upn)
    smtp = next((f.address for f in found if f.smtp), None)
    recipient = next((f.address for f in found if not f.smtp), None)
    undo = ForwardingUndo(smtp, recipient, any(f.keep_copy for f in found))
    return _done(Note.FORWARDING_REMOVED, undo, old=smtp or recipient or "")


async def disable_rules(run: StepRun) -> Outcome:
    """Disable the flagged rules the admin picked (every flagged one when none were picked),
    and every flagged rule that appeared after the investigation (the admin never saw it)."""
    section = await run.read(rules.NAME)
    if not section.read:
        return _unreadable(section)
    flagged = {
        f.rule_id: f for f in section.findings if isinstance(f, RuleFinding) and f.why and f.enabled
    }
    known = {r.rule_id for r in rules.flagged(run.case.evidence)}
    picked = run.options.rules
    chosen = [i for i in flagged if picked is None or i in picked or i not in known]
    if not chosen:
        return _done(Note.NO_RULES)
    for rule_id in chosen:
        await run.tenant.disable_inbox_rule(run.case.upn, rule_id)
    names = tuple(flagged[i].name for i in chosen)
    return _done(Note.RULES_DISABLED, RulesUndo(tuple(chosen)), names=names)


async def block_sign_in(run: StepRun) -> Outcome:
    """Block sign-in to the account."""
    await run.tenant.set_sign_in_blocked(_user_id(run), True)
    return _done(Note.SIGN_IN_BLOCKED, SignInUndo())


async def remove_roles(run: StepRun) -> Outcome:
    """Remove directory roles, recording them to restore later."""
    section = await run.read(roles.NAME)
    if not section.read:
        return _unreadable(section)
    held = [f for f in section.findings if isinstance(f, RoleFinding)]
    if not held:
        return _done(Note.NO_ROLES)
    for role in held:
        await run.tenant.remove_role_assignment(role.assignment_id)
    undo = RolesUndo(tuple(RoleRef(r.role_id, r.role_name, r.scope) for r in held))
    return _done(Note.ROLES_REMOVED, undo, names=tuple(r.role_name for r in held))


async def review_mfa(run: StepRun) -> Outcome:
    """Confirm the methods, removing the flagged ones the admin picked. A flagged method the
    admin was not shown (registered after the investigation) stops the step: review it first."""
    section = await run.read(mfa.NAME)
    if not section.read:
        return _unreadable(section)
    flagged = {f.method_id: f for f in section.findings if isinstance(f, MethodFinding) and f.why}
    shown = {m.method_id for m in mfa.flagged(run.case.evidence)}
    if unseen := [m.label for i, m in flagged.items() if i not in shown]:
        return Outcome(StepStatus.FAILED, StepDetail(Note.NEW_METHODS, names=tuple(unseen)))
    chosen = [i for i in run.options.remove if i in flagged]
    if not chosen:
        return _done(Note.MFA_CONFIRMED)
    for method_id in chosen:
        await run.tenant.remove_authentication_method(
            _user_id(run), flagged[method_id].method, method_id
        )
    removed = tuple(MethodRef(flagged[i].method, flagged[i].label) for i in chosen)
    return _done(Note.MFA_REMOVED, MethodsUndo(removed), names=tuple(m.label for m in removed))


STEPS: dict[StepName, Callable[[StepRun], Awaitable[Outcome]]] = {
    StepName.RESET_PASSWORD: reset_password,
    StepName.REVOKE_SESSIONS: revoke_sessions,
    StepName.REMOVE_FORWARDING: remove_forwarding,
    StepName.DISABLE_RULES: disable_rules,
    StepName.BLOCK_SIGN_IN: block_sign_in,
    StepName.REMOVE_ROLES: remove_roles,
    StepName.REVIEW_MFA: review_mfa,
}
