"""What the automatic containment policy decided about a case and did, as stored on the case
(bot/cases/containment.py acts; bot/cases/strength.py holds the rules).

The policy decides on new restrictions only: the watcher marks each new case "pending" when the
policy is not off (a case an admin opens for a sender restricted earlier is theirs). The
decision is written once per case by compare-and-set (a second replica, or a second read of the
same evidence, finds it there), except that an "unread" verdict is decided again when the
evidence is read again. Work in flight (containing, undoing, giving the account back) names its
runner: upkeep ends it visibly when that runner is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.cases.evidence import SectionName
from bot.cases.outcomes import StepName
from bot.cases.strength import Assessment, Sign, Verdict
from bot.errors import Problem


class Mode(StrEnum):
    """AUTO_CONTAIN, and the run-time switch (`containment on|off|dry-run`)."""

    OFF = "off"
    DRY_RUN = "dry-run"
    ON = "on"


class Hold(StrEnum):
    """Why strong evidence was not acted on (catalogue key `contain.hold.<value>`)."""

    EXCLUDED_USER = "excluded_user"
    EXCLUDED_GROUP = "excluded_group"
    GROUPS_UNREAD = "groups_unread"  # membership of the excluded groups could not be read


class Work(StrEnum):
    """What the policy (or an admin, on its record) is doing to the account."""

    CONTAIN = "contain"
    UNDO = "undo"
    GIVE_BACK = "give_back"


@dataclass(frozen=True)
class InFlight:
    """Work running now: what, in which process, for whom, since when."""

    work: Work
    runner: str
    actor_name: str
    since: datetime


@dataclass(frozen=True)
class Containment:
    """The policy's decision about a case and what came of it."""

    mode: Mode  # on or dry-run when it decided
    verdict: Verdict
    decided_at: datetime
    signs: tuple[Sign, ...] = ()
    unread: tuple[SectionName, ...] = ()
    admin: bool = False
    hold: Hold | None = None
    steps: tuple[StepName, ...] = ()  # what it runs (on) or would have run (dry-run)
    in_flight: InFlight | None = None
    contained_at: datetime | None = None  # its steps ended (see the steps for how each did)
    stopped: bool = False  # its runner stopped before every step ran
    undone_at: datetime | None = None
    undone_by: str = ""
    kept: tuple[StepName, ...] = ()  # what an undo could not put back (sessions revoked…)
    given_back_at: datetime | None = None
    given_back_by: str = ""
    problem: Problem | None = None  # why the last undo or give-back did not finish
    by: str = ""  # an admin's bulk action contained it (empty: the policy)
    bulk: str = ""  # that bulk action's id

    @classmethod
    def decided(
        cls,
        mode: Mode,
        assessment: Assessment,
        at: datetime,
        *,
        hold: Hold | None,
        steps: tuple[StepName, ...],
    ) -> Containment:
        """A fresh decision on `assessment`."""
        return cls(
            mode,
            assessment.verdict,
            at,
            assessment.signs,
            assessment.unread,
            assessment.admin,
            hold,
            steps,
        )

    @property
    def acts(self) -> bool:
        """The policy changes the tenant for this case (on, strong, not held)."""
        return self.mode is Mode.ON and self.verdict is Verdict.STRONG and self.hold is None

    @property
    def would_act(self) -> bool:
        """Dry run: it would have changed the tenant."""
        return self.mode is Mode.DRY_RUN and self.verdict is Verdict.STRONG and self.hold is None

    @property
    def decide_again(self) -> bool:
        """A pending decision is made when the investigation has read the evidence; an
        "unread" one (or one held because the excluded groups could not be read) again later."""
        waiting = self.verdict in (Verdict.PENDING, Verdict.UNREAD) and self.contained_at is None
        held = self.hold is Hold.GROUPS_UNREAD and self.contained_at is None
        return (waiting or held) and self.mode is not Mode.OFF  # switched off: left so
