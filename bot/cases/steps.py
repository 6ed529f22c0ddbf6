"""The checklist steps: each does one thing in the tenant and reports what changed.

The temporary password of a reset lives only in this module's local variables and in the one
private message to the admin who clicked; it is never returned, stored, logged or audited.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.cases.investigation import suspicious_methods, suspicious_rules
from bot.cases.model import Case, StepName, StepStatus
from bot.errors import TenantRequestFailed
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient

PrivateMessage = Callable[[str], Awaitable[None]]
_SYMBOLS = "!#$%&*+-=?@^_"


@dataclass(frozen=True)
class Outcome:
    """How a step ended: status, a detail key with its values, and how to undo it."""

    status: StepStatus
    detail: str
    values: dict[str, Any] = field(default_factory=dict)
    undo: dict[str, Any] | None = None


@dataclass(frozen=True)
class StepRun:
    """What a step needs: the case, the tenant clients, options and the private channel."""

    case: Case
    exchange: ExchangeClient
    graph: GraphClient
    options: dict[str, Any]
    tell_privately: PrivateMessage


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


async def reset_password(run: StepRun) -> Outcome:
    """Random strong password, change forced at next sign-in, told only to the clicker."""
    password = temporary_password()
    try:
        await run.graph.reset_password(_user_id(run), password)
    except TenantRequestFailed as err:
        if "federated" in str(err).lower():
            return Outcome(StepStatus.FAILED, "step.federated")
        raise
    await run.tell_privately(password)
    return Outcome(StepStatus.DONE, "step.reset_password.done")


async def revoke_sessions(run: StepRun) -> Outcome:
    """Invalidate refresh tokens and session cookies."""
    await run.graph.revoke_sessions(_user_id(run))
    return Outcome(StepStatus.DONE, "step.revoke_sessions.done")


async def remove_forwarding(run: StepRun) -> Outcome:
    """Clear mailbox forwarding, recording the old value."""
    before = await run.exchange.mailbox_forwarding(run.case.upn)
    if not before.active:
        return Outcome(StepStatus.DONE, "step.remove_forwarding.none")
    await run.exchange.clear_forwarding(run.case.upn)
    old = before.smtp_address or before.forwarding_address or ""
    undo = {
        "ForwardingSmtpAddress": before.smtp_address,
        "ForwardingAddress": before.forwarding_address,
        "DeliverToMailboxAndForward": before.deliver_and_forward,
    }
    return Outcome(StepStatus.DONE, "step.remove_forwarding.done", {"old": old}, undo)


async def disable_rules(run: StepRun) -> Outcome:
    """Disable the flagged rules the admin picked (all flagged ones when none picked)."""
    flagged = {r["id"]: r for r in suspicious_rules(run.case.evidence)}
    picked = run.options.get("rules")
    chosen = [i for i in picked if i in flagged] if isinstance(picked, list) else list(flagged)
    if not chosen:
        return Outcome(StepStatus.DONE, "step.disable_rules.none")
    for rule_id in chosen:
        await run.exchange.disable_inbox_rule(run.case.upn, rule_id)
    names = ", ".join(str(flagged[i]["text"]) for i in chosen)
    return Outcome(
        StepStatus.DONE,
        "step.disable_rules.done",
        {"count": len(chosen), "names": names},
        {"rules": chosen},
    )


async def block_sign_in(run: StepRun) -> Outcome:
    """Block sign-in to the account."""
    await run.graph.set_sign_in_blocked(_user_id(run), True)
    return Outcome(StepStatus.DONE, "step.block_sign_in.done", undo={"accountEnabled": True})


async def remove_roles(run: StepRun) -> Outcome:
    """Remove directory roles, recording them to restore later."""
    roles = await run.graph.role_assignments(_user_id(run))
    if not roles:
        return Outcome(StepStatus.DONE, "step.remove_roles.none")
    for role in roles:
        await run.graph.remove_role_assignment(role.id)
    names = ", ".join(r.role_name for r in roles)
    return Outcome(
        StepStatus.DONE,
        "step.remove_roles.done",
        {"names": names},
        {"roles": [{"id": r.role_id, "name": r.role_name, "scope": r.scope} for r in roles]},
    )


async def review_mfa(run: StepRun) -> Outcome:
    """Confirm the methods, removing the flagged ones the admin picked."""
    flagged = {m["id"]: m for m in suspicious_methods(run.case.evidence)}
    picked = run.options.get("remove")
    chosen = [i for i in picked if i in flagged] if isinstance(picked, list) else []
    if not chosen:
        return Outcome(StepStatus.DONE, "step.review_mfa.done")
    for method_id in chosen:
        await run.graph.remove_authentication_method(
            _user_id(run), str(flagged[method_id]["kind"]), method_id
        )
    names = ", ".join(str(flagged[i]["text"]) for i in chosen)
    return Outcome(
        StepStatus.DONE,
        "step.review_mfa.removed",
        {"names": names},
        {"removed": [{"kind": flagged[i]["kind"], "detail": flagged[i]["text"]} for i in chosen]},
    )


STEPS: dict[StepName, Callable[[StepRun], Awaitable[Outcome]]] = {
    StepName.RESET_PASSWORD: reset_password,
    StepName.REVOKE_SESSIONS: revoke_sessions,
    StepName.REMOVE_FORWARDING: remove_forwarding,
    StepName.DISABLE_RULES: disable_rules,
    StepName.BLOCK_SIGN_IN: block_sign_in,
    StepName.REMOVE_ROLES: remove_roles,
    StepName.REVIEW_MFA: review_mfa,
}
