"""Optional step 7: review the sign-in methods, removing the flagged ones the admin picked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.cases.outcomes import Note, StepDetail, StepName, StepStatus
from bot.cases.sections import mfa
from bot.cases.sections.mfa import MethodFinding
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done, unreadable


@dataclass(frozen=True)
class MethodRef:
    """A sign-in method that was removed."""

    kind: str
    label: str


@dataclass(frozen=True)
class MethodsUndo:
    """The sign-in methods the step removed (the user registers them again)."""

    removed: tuple[MethodRef, ...]
    kind: Literal["methods"] = "methods"


async def run(step: StepRun) -> Outcome:
    """Confirm the methods, removing the flagged ones the admin picked. A flagged method the
    admin was not shown (registered after the investigation) stops the step: review it first."""
    section = await step.read(mfa.NAME)
    if not section.read:
        return unreadable(section)
    flagged = {f.method_id: f for f in section.findings if isinstance(f, MethodFinding) and f.why}
    shown = {m.method_id for m in mfa.flagged(step.case.evidence)}
    if unseen := [m.label for i, m in flagged.items() if i not in shown]:
        return Outcome(StepStatus.FAILED, StepDetail(Note.NEW_METHODS, names=tuple(unseen)))
    chosen = [i for i in step.options.remove if i in flagged]
    if not chosen:
        return done(Note.MFA_CONFIRMED)
    for method_id in chosen:
        await step.tenant.remove_authentication_method(
            step.user_id(), flagged[method_id].method, method_id
        )
    removed = tuple(MethodRef(flagged[i].method, flagged[i].label) for i in chosen)
    return done(Note.MFA_REMOVED, MethodsUndo(removed), names=tuple(m.label for m in removed))


STEP = StepSpec(
    StepName.REVIEW_MFA,
    recommended=False,
    reads=mfa.NAME,
    run=run,
    needs=(
        Need(
            "Remove flagged MFA methods",
            "graph",
            ("UserAuthenticationMethod.ReadWrite.All",),
            probe="token",
        ),
    ),
    undo=MethodsUndo,
)
