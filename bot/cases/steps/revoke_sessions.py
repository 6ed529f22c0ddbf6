"""Step 2: revoke the account's refresh tokens and session cookies."""

from __future__ import annotations

from bot.cases.outcomes import Note, StepName
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done


async def run(step: StepRun) -> Outcome:
    """Invalidate refresh tokens and session cookies."""
    await step.tenant.revoke_sessions(step.user_id())
    return done(Note.SESSIONS_REVOKED)


STEP = StepSpec(
    StepName.REVOKE_SESSIONS,
    recommended=True,
    reads=None,
    run=run,
    needs=(
        Need(
            "Revoke sign-in sessions",
            "graph",
            ("User.RevokeSessions.All", "User.ReadWrite.All"),
            probe="token",
        ),
    ),
)
