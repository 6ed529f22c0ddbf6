"""The compromised-account checklist, one module per step, in the order the card shows them.

A step module declares everything about itself (`StepSpec`): whether it is one of the
recommended steps 1-4, the evidence section it reads fresh before acting, what it does through
the `Tenant` port, what the tenant must grant for it (doctor checks it), and the record it keeps
to undo it (stored by bot/store/codec.py). When a step may run is asked of `Case`; its words are
the catalogue keys `step.<name>…`. Adding a step is a module, a `StepName` and a line here.
"""

from __future__ import annotations

from bot.cases.evidence import SectionName
from bot.cases.outcomes import StepName
from bot.cases.steps import (
    block_sign_in,
    disable_rules,
    remove_forwarding,
    remove_roles,
    reset_password,
    review_mfa,
    revoke_sessions,
)
from bot.cases.steps.spec import Outcome, StepOptions, StepRun, StepSpec

__all__ = [
    "RECOMMENDED",
    "STEPS",
    "STEP_EVIDENCE",
    "UNDO_KINDS",
    "Outcome",
    "StepOptions",
    "StepRun",
    "StepSpec",
    "step",
]

STEPS: tuple[StepSpec, ...] = (
    reset_password.STEP,
    revoke_sessions.STEP,
    remove_forwarding.STEP,
    disable_rules.STEP,
    block_sign_in.STEP,
    remove_roles.STEP,
    review_mfa.STEP,
)
_BY_NAME = {s.name: s for s in STEPS}
RECOMMENDED: tuple[StepName, ...] = tuple(s.name for s in STEPS if s.recommended)
# The evidence a step acts on: it reads that section itself when it runs, and a release waits
# until the sections the recommended steps depend on have been read.
STEP_EVIDENCE: dict[StepName, SectionName] = {s.name: s.reads for s in STEPS if s.reads}
UNDO_KINDS: tuple[type, ...] = tuple(s.undo for s in STEPS if s.undo is not None)


def step(name: StepName) -> StepSpec:
    """The registered step `name`."""
    return _BY_NAME[name]
