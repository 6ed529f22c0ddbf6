"""Optional step 5: block sign-in to the account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.cases.outcomes import Note, StepName
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done


@dataclass(frozen=True)
class SignInUndo:
    """Sign-in was blocked: allow it again to undo."""

    kind: Literal["sign_in"] = "sign_in"


async def run(step: StepRun) -> Outcome:
    """Block sign-in to the account."""
    await step.tenant.set_sign_in_blocked(step.user_id(), True)
    return done(Note.SIGN_IN_BLOCKED, SignInUndo())


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
)
