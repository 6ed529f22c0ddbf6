"""Step 1: reset the password to a random strong one, changed at next sign-in, told only to the
admin who clicked. The password lives only in this module's local variables and in that one
private message; it is never returned, stored, logged or audited."""

from __future__ import annotations

import secrets
import string
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done
from bot.cases.tenant_ports import TenantReads
from bot.errors import NotDelivered, Problem, ProblemKind, TenantRequestFailed, problem_of

if TYPE_CHECKING:
    from bot.cases.model import Case, Step

_SYMBOLS = "!#$%&*+-=?@^_"
CLOCK_SKEW = timedelta(seconds=5)  # between BlockWatch's clock and Entra's


def temporary_password(length: int = 20) -> str:
    """A random password with lower, upper, digits and symbols (Entra's complexity rules)."""
    pools = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _SYMBOLS)
    chars = [secrets.choice(pool) for pool in pools]
    chars += [secrets.choice("".join(pools)) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


async def run(step: StepRun) -> Outcome:
    """Random strong password, change forced at next sign-in, told only to the clicker."""
    password = temporary_password()
    try:
        await step.tenant.reset_password(step.user_id(), password)
    except TenantRequestFailed as err:
        if "federated" in str(err).lower():
            return Outcome(StepStatus.FAILED, StepDetail(Note.FEDERATED))
        raise
    if step.tell_privately is None:  # automatic containment: nobody needs it now
        return done(Note.PASSWORD_RESET_UNTOLD)
    try:
        await step.tell_privately(password)
    except NotDelivered as err:
        # The password was changed and nobody has it: say so, and Retry sets a new one.
        detail = StepDetail(Note.PASSWORD_NOT_DELIVERED, problem=problem_of(err))
        return Outcome(StepStatus.FAILED, detail)
    return done(Note.PASSWORD_RESET)


async def after_interruption(tenant: TenantReads, case: Case, step: Step) -> Outcome | None:
    """A reset the interrupted run may have made: Entra's last password change after the run
    started means it did, and nobody was told the password (run it again); None otherwise."""
    if step.started_at is None:
        return None
    user = await tenant.user(case.user_id or case.upn)
    changed = user.password_changed
    if changed is None or changed < step.started_at - CLOCK_SKEW:
        return None
    problem = Problem(ProblemKind.INTERRUPTED, "Microsoft Entra ID")
    return Outcome(StepStatus.FAILED, StepDetail(Note.PASSWORD_NOT_DELIVERED, problem=problem))


STEP = StepSpec(
    StepName.RESET_PASSWORD,
    recommended=True,
    reads=None,
    run=run,
    needs=(
        Need(
            "Reset password",
            "graph",
            ("User-PasswordProfile.ReadWrite.All", "User.ReadWrite.All"),
            probe="token",
        ),
    ),
    after_interruption=after_interruption,
)
