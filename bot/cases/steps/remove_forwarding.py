"""Step 3: clear the mailbox's forwarding, recording what it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.cases.outcomes import Note, StepName, Undo
from bot.cases.sections import forwarding
from bot.cases.sections.forwarding import ForwardingFinding
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done, unreadable
from bot.cases.tenant_ports import Tenant

if TYPE_CHECKING:
    from bot.cases.model import Case


@dataclass(frozen=True)
class ForwardingUndo:
    """The forwarding the step removed."""

    smtp_address: str | None
    forwarding_address: str | None
    keep_copy: bool
    kind: Literal["forwarding"] = "forwarding"


async def run(step: StepRun) -> Outcome:
    """Clear mailbox forwarding, recording the old value."""
    section = await step.read(forwarding.NAME)
    if not section.read:
        return unreadable(section)
    found = [f for f in section.findings if isinstance(f, ForwardingFinding)]
    if not found:
        return done(Note.NO_FORWARDING)
    await step.tenant.clear_forwarding(step.case.upn)
    smtp = next((f.address for f in found if f.smtp), None)
    recipient = next((f.address for f in found if not f.smtp), None)
    undo = ForwardingUndo(smtp, recipient, any(f.keep_copy for f in found))
    return done(Note.FORWARDING_REMOVED, undo, old=smtp or recipient or "")


async def revert(tenant: Tenant, case: Case, undo: Undo) -> None:
    """Set the mailbox's forwarding back as it was recorded."""
    if isinstance(undo, ForwardingUndo):
        await tenant.restore_forwarding(
            case.upn, undo.smtp_address, undo.forwarding_address, keep_copy=undo.keep_copy
        )


STEP = StepSpec(
    StepName.REMOVE_FORWARDING,
    recommended=True,
    reads=forwarding.NAME,
    run=run,
    needs=(
        Need(
            "Remove mailbox forwarding",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Set-Mailbox",
            probe="cmdlet",
        ),
    ),
    undo=ForwardingUndo,
    revert=revert,
)
