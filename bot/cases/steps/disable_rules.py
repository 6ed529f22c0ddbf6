"""Step 4: disable the flagged inbox rules the admin picked (hidden ones too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.cases.outcomes import Note, StepName, Undo
from bot.cases.sections import rules
from bot.cases.sections.rules import RuleFinding
from bot.cases.sections.spec import Need
from bot.cases.steps.spec import Outcome, StepRun, StepSpec, done, unreadable
from bot.cases.tenant_ports import Tenant

if TYPE_CHECKING:
    from bot.cases.model import Case


@dataclass(frozen=True)
class RulesUndo:
    """The inbox rules the step disabled."""

    rule_ids: tuple[str, ...]
    kind: Literal["rules"] = "rules"


async def run(step: StepRun) -> Outcome:
    """Disable the flagged rules the admin picked (every flagged one when none were picked),
    and every flagged rule that appeared after the investigation (the admin never saw it)."""
    section = await step.read(rules.NAME)
    if not section.read:
        return unreadable(section)
    flagged = {
        f.rule_id: f for f in section.findings if isinstance(f, RuleFinding) and f.why and f.enabled
    }
    known = {r.rule_id for r in rules.flagged(step.case.evidence)}
    picked = step.options.rules
    chosen = [i for i in flagged if picked is None or i in picked or i not in known]
    if not chosen:
        return done(Note.NO_RULES)
    for rule_id in chosen:
        await step.tenant.disable_inbox_rule(step.case.upn, rule_id)
    names = tuple(flagged[i].name for i in chosen)
    return done(Note.RULES_DISABLED, RulesUndo(tuple(chosen)), names=names)


async def revert(tenant: Tenant, case: Case, undo: Undo) -> None:
    """Enable again the rules the step disabled."""
    if isinstance(undo, RulesUndo):
        for rule_id in undo.rule_ids:
            await tenant.enable_inbox_rule(case.upn, rule_id)


STEP = StepSpec(
    StepName.DISABLE_RULES,
    recommended=True,
    reads=rules.NAME,
    run=run,
    needs=(
        Need(
            "Disable inbox rules",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Disable-InboxRule",
            probe="cmdlet",
        ),
        Need(
            "Enable inbox rules again (undo containment)",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Enable-InboxRule",
            probe="cmdlet",
            optional=True,
        ),
    ),
    undo=RulesUndo,
    revert=revert,
)
