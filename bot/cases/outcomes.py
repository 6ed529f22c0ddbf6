"""The checklist's vocabulary: its steps, their progress, and how a step ended: what it says
(`Note`, a stored code; the card has the words), the facts in it (`StepDetail`) and what it
changed, recorded to undo it (`Undo`: each step module defines its record)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.errors import Problem


class Note(StrEnum):
    """What a step's outcome says (a domain code, stored; the card has its words); the facts
    are on `StepDetail`."""

    PASSWORD_RESET = "password_reset"  # noqa: S105 - a code, not a password
    SESSIONS_REVOKED = "sessions_revoked"
    FORWARDING_REMOVED = "forwarding_removed"
    NO_FORWARDING = "no_forwarding"
    RULES_DISABLED = "rules_disabled"
    NO_RULES = "no_rules"
    SIGN_IN_BLOCKED = "sign_in_blocked"
    ROLES_REMOVED = "roles_removed"
    NO_ROLES = "no_roles"
    MFA_CONFIRMED = "mfa_confirmed"
    MFA_REMOVED = "mfa_removed"
    NEW_METHODS = "new_methods"  # flagged methods the admin has not been shown yet
    FEDERATED = "federated"
    PASSWORD_NOT_DELIVERED = "password_not_delivered"  # noqa: S105 - a code
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    FAILED = "failed"  # `problem` says why
    PASSWORD_RESET_UNTOLD = "password_reset_untold"  # noqa: S105 - automatic: nobody told
    ALREADY_BLOCKED = "already_blocked"  # sign-in was blocked before (Defender, an admin)
    ON_PREMISES = "on_premises"  # synced from on-premises AD: Entra refuses to block sign-in
    UNDONE = "undone"  # put back by "Undo containment"
    SIGN_IN_ALLOWED = "sign_in_allowed"  # the account was given back


class StepName(StrEnum):
    """Microsoft's compromised-account checklist, as buttons."""

    RESET_PASSWORD = "reset_password"  # noqa: S105 - a step name, not a password
    REVOKE_SESSIONS = "revoke_sessions"
    REMOVE_FORWARDING = "remove_forwarding"
    DISABLE_RULES = "disable_rules"
    BLOCK_SIGN_IN = "block_sign_in"
    REMOVE_ROLES = "remove_roles"
    REVIEW_MFA = "review_mfa"


class StepStatus(StrEnum):
    """A step's progress."""

    NOT_RUN = "not_run"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class StepDetail:
    """The outcome of a step: what it says, and the names, address, reason or problem in it."""

    note: Note
    names: tuple[str, ...] = ()
    old: str = ""
    reason: str = ""
    problem: Problem | None = None

    @classmethod
    def failed(cls, problem: Problem) -> StepDetail:
        """A step that did not do its job, and why."""
        return cls(Note.FAILED, problem=problem)


class Undo(Protocol):
    """What a step changed, recorded so it can be undone (a step module's frozen dataclass with
    a literal `kind`, which the store keeps)."""

    @property
    def kind(self) -> str:
        """The kind of record, as stored."""
        ...
