"""Optional step 6: remove the account's directory roles, recording them to restore later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.cases.outcomes import Note, StepName
from bot.cases.sections import roles
from bot.cases.sections.roles import RoleFinding
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done, unreadable


@dataclass(frozen=True)
class RoleRef:
    """A directory role that was removed, enough to assign it again."""

    role_id: str
    name: str
    scope: str


@dataclass(frozen=True)
class RolesUndo:
    """The directory roles the step removed."""

    roles: tuple[RoleRef, ...]
    kind: Literal["roles"] = "roles"


async def run(step: StepRun) -> Outcome:
    """Remove directory roles, recording them to restore later."""
    section = await step.read(roles.NAME)
    if not section.read:
        return unreadable(section)
    held = [f for f in section.findings if isinstance(f, RoleFinding)]
    if not held:
        return done(Note.NO_ROLES)
    for role in held:
        await step.tenant.remove_role_assignment(role.assignment_id)
    undo = RolesUndo(tuple(RoleRef(r.role_id, r.role_name, r.scope) for r in held))
    return done(Note.ROLES_REMOVED, undo, names=tuple(r.role_name for r in held))


STEP = StepSpec(
    StepName.REMOVE_ROLES,
    recommended=False,
    reads=roles.NAME,
    run=run,
    needs=(
        Need("Remove admin roles", "graph", ("RoleManagement.ReadWrite.Directory",), probe="token"),
    ),
    undo=RolesUndo,
)
