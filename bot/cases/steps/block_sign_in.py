"""Optional step 5: block sign-in to the account.

It reads the account first: one that is already blocked (Defender's attack disruption, an
admin) is left as it is and keeps no undo record, so BlockWatch never allows sign-in that it
did not block; one mastered in on-premises AD is skipped with the reason (Entra refuses to
change it there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus, Undo
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done
from bot.cases.tenant_ports import Tenant

if TYPE_CHECKING:
    from bot.cases.model import Case


@dataclass(frozen=True)
class SignInUndo:
    """Sign-in was blocked by this step: allow it again to undo."""

    kind: Literal["sign_in"] = "sign_in"


async def run(step: StepRun) -> Outcome:
    """Block sign-in to the account (unless it already is, or Entra cannot here)."""
    user = await step.tenant.user(step.user_id())
    if not user.account_enabled:
        return done(Note.ALREADY_BLOCKED)
    if user.on_premises_sync:
        return Outcome(StepStatus.SKIPPED, StepDetail(Note.ON_PREMISES))
    await step.tenant.set_sign_in_blocked(step.user_id(), True)
    return done(Note.SIGN_IN_BLOCKED, SignInUndo())


async def revert(tenant: Tenant, case: Case, undo: Undo) -> None:
    """Allow sign-in again (only ever after this step blocked it: its record says so)."""
    if isinstance(undo, SignInUndo) and case.user_id:
        await tenant.set_sign_in_blocked(case.user_id, False)


STEP = StepSpec(
    StepName.BLOCK_SIGN_IN,
    recommended=False,
    reads=None,
    run=run,
    needs=(
        Need(
            "Block sign-in",
            "graph",
            ("User.EnableDisableAccount.All", "User.ReadWrite.All"),
            probe="token",
        ),
    ),
    undo=SignInUndo,
    revert=revert,
)
