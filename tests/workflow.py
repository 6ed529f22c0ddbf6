"""In-memory implementations of the workflow's ports (bot/cases/ports.py), so its rules are
tested in milliseconds without a database, an HTTP server or Teams.

`MemoryCases` is a real repository: compare-and-set on the version, the audit event kept with
the change it belongs to, and every applied change remembered (`applied`) for the tests that
check the change path's invariants. `MemoryTenant` is one mailbox with a forwarding and an inbox
rule; its `release_gate` holds `release_sender` until a test lets it go.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.cases.background import Background
from bot.cases.containment import ContainmentPolicy
from bot.cases.ledger import CaseLedger
from bot.cases.model import Case, CaseNote, CaseState, Step
from bot.cases.outcomes import StepStatus
from bot.cases.ports import Change, Event, StepName
from bot.cases.service import CasePolicy, CaseService
from bot.core.audit import AuditEvent
from bot.core.m365 import (
    AuthMethod,
    ConsentGrant,
    Delegate,
    DirectoryUser,
    InboxRule,
    MailboxForwarding,
    RestrictedSender,
    RiskState,
    RoleAssignment,
    SentMessage,
    SignIn,
    parse_reason,
)
from bot.core.people import Actor, Address
from bot.errors import DatabaseUnavailable, DeadlineExceeded, TenantForbidden, TenantNotFound

UPN = "joost@contoso.example"
USER_ID = "3f2a1b7c-0000-4000-8000-000000000001"
ALEX = Actor("29:alex", "oid-alex", "Alex")
SAM = Actor("29:sam", "oid-sam", "Sam")
HERE = Address("msteams", "https://smba.example/", "19:chat", "personal")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 7, 3, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Applied:
    """A change the repository applied: the case before and after it."""

    before: Case
    change: Change
    after: Case


class MemoryCases:
    """The cases repository, in memory."""

    def __init__(self, audit: MemoryAudit) -> None:
        self._cases: dict[str, Case] = {}
        self._audit = audit
        self.applied: list[Applied] = []
        self.unreachable = 0  # the next this many writes find the database gone

    async def get(self, case_id: str) -> Case | None:
        return self._cases.get(case_id)

    async def open_for(self, upn: str) -> Case | None:
        return next((c for c in self._cases.values() if c.upn == upn and not c.closed_at), None)

    async def history(self, upn: str) -> list[Case]:
        found = [c for c in self._cases.values() if c.upn == upn]
        return sorted(found, key=lambda c: c.opened_at, reverse=True)

    async def senders(self, *, open_only: bool, limit: int) -> list[tuple[str, str]]:
        found = {c.upn: c.display_name or "" for c in self._cases.values()}
        return list(found.items())[:limit]

    async def open_cases(self) -> list[Case]:
        return [c for c in self._cases.values() if c.closed_at is None]

    async def open_case(
        self, sender: RestrictedSender, event: Event, *, at: datetime
    ) -> tuple[Case, bool]:
        existing = await self.open_for(sender.upn)
        if existing is not None:
            return existing, False
        case = Case(
            str(uuid.uuid4()),
            sender.upn,
            CaseState.RESTRICTED,
            1,
            at,
            display_name=sender.display_name,
            user_id=sender.user_id,
            reason=sender.reason.raw,
            restricted_since=sender.created,
        )
        self._cases[case.id] = case
        await self._audit.record(event.about(case, at))
        return case, True

    async def apply(self, case: Case, change: Change, *, at: datetime) -> Case | None:
        if self.unreachable:
            self.unreachable -= 1
            raise DatabaseUnavailable("the connection failed: ConnectionResetError")
        current = self._cases[case.id]
        if current.version != case.version:
            return None
        after = dataclasses.replace(current, version=current.version + 1, **change.fields)
        if (write := change.step) is not None:
            old = current.step(write.name)
            running = write.status is StepStatus.RUNNING
            step = Step(
                write.name,
                write.status,
                None if running else write.detail,
                write.actor.name if write.actor else old.actor_name,
                old.attempt if write.attempt is None else write.attempt,
                None if running else at,
                old.undo if running else write.undo,
                write.runner if running else old.runner,
                at if running else old.started_at,
            )
            after = dataclasses.replace(after, steps={**current.steps, write.name: step})
        if change.note is not None and change.event is not None:
            note = CaseNote(change.event.actor.name, change.note, at, change.event.actor.key)
            after = dataclasses.replace(
                after, notes=(note, *after.notes), note_count=after.note_count + 1
            )
        self._cases[case.id] = after
        if change.event is not None:
            await self._audit.record(change.event.about(after, at))
        self.applied.append(Applied(current, change, after))
        return after

    async def of_ids(self, case_ids: list[str]) -> list[Case]:
        return [self._cases[i] for i in case_ids if i in self._cases]

    async def with_work_in_flight(self) -> list[Case]:
        return [
            c
            for c in self._cases.values()
            if c.containment is not None and c.containment.in_flight is not None
        ]

    async def running_steps(self) -> list[tuple[str, StepName, str]]:
        return [
            (c.id, s.name, s.runner)
            for c in self._cases.values()
            for s in c.steps.values()
            if s.status is StepStatus.RUNNING
        ]

    async def purge_closed(self, before: datetime) -> int:
        old = [i for i, c in self._cases.items() if c.closed_at and c.closed_at < before]
        for i in old:
            del self._cases[i]
        return len(old)


class MemoryAudit:
    """The audit trail, in memory."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def purge(self, before: datetime) -> int:
        return 0

    def actions(self, case_id: str) -> list[str]:
        """The actions recorded about a case, in order."""
        return [e.action for e in self.events if e.case_id == case_id]


class MemoryLeases:
    """Runner leases: every runner named in `alive` is alive."""

    def __init__(self, *alive: str) -> None:
        self.alive = set(alive)

    async def renew(self, name: str, holder: str, seconds: float) -> bool:
        return True

    async def holders(self, prefix: str) -> set[str]:
        return set(self.alive)


class Announced:
    """Remembers every announced change."""

    def __init__(self) -> None:
        self.cases: list[str] = []

    def case_changed(self, case_id: str) -> None:
        self.cases.append(case_id)


class Private:
    """The private channel: what was told to whom."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    async def tell(self, actor: Actor, address: Address, text: str) -> None:
        self.told.append((actor.key, text))


@dataclass
class MemoryTenant:
    """One compromised mailbox: external forwarding and a hidden rule."""

    restricted: bool = True
    forwarding: str | None = "smtp:exfil@attacker.example"
    rules: dict[str, bool] = field(default_factory=lambda: {"rule-1": True})
    blocked: bool = False
    revoked: int = 0
    passwords: int = 0
    release_gate: asyncio.Event | None = None
    revoke_gate: asyncio.Event | None = None
    release_times_out: bool = False  # Exchange holds the call past BlockWatch's deadline
    password_changed: datetime | None = None  # Entra's lastPasswordChangeDateTime
    released: int = 0
    keep_copy: bool = False
    groups: set[str] = field(default_factory=set)
    on_premises: bool = False
    rules_refused: bool = False  # Exchange refuses Get-InboxRule
    enable_refused: bool = False  # Exchange refuses Enable-InboxRule

    def sender(self) -> RestrictedSender:
        """The restriction as Exchange lists it."""
        reason = parse_reason("EmailSendingLimitExceeded;ExceedingLimitType=External")
        at = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
        return RestrictedSender(UPN, "Joost", reason, at, at, False, USER_ID)

    async def restricted_sender(self, upn: str) -> RestrictedSender | None:
        return self.sender() if self.restricted else None

    async def user(self, id_or_upn: str) -> DirectoryUser:
        return DirectoryUser(
            USER_ID,
            UPN,
            "Joost",
            account_enabled=not self.blocked,
            password_changed=self.password_changed,
            on_premises_sync=self.on_premises,
        )

    async def group_ids(self, user_id: str) -> set[str]:
        return set(self.groups)

    async def inbox_rules(self, upn: str) -> list[InboxRule]:
        if self.rules_refused:
            raise TenantForbidden("Get-InboxRule is not in the app's role", service="Exchange")
        return [
            InboxRule(i, "..", on, True, move_to_folder="RSS Subscriptions", delete=True)
            for i, on in self.rules.items()
        ]

    async def mailbox_forwarding(self, upn: str) -> MailboxForwarding:
        return MailboxForwarding(self.forwarding, None, False)

    async def delegates(self, upn: str) -> list[Delegate]:
        return []

    async def authentication_methods(self, user_id: str) -> list[AuthMethod]:
        return []

    async def registered_method_kinds(self, user_id: str, *, since: datetime) -> set[str]:
        return set()

    async def role_assignments(self, user_id: str) -> list[RoleAssignment]:
        return []

    async def risky_user(self, user_id: str) -> RiskState | None:
        return None

    async def sign_ins(self, user_id: str, *, since: datetime) -> list[SignIn]:
        return []

    async def consent_grants(self, user_id: str) -> list[ConsentGrant]:
        return []

    async def sent_messages(self, upn: str, *, since: datetime) -> list[SentMessage]:
        return []

    async def release_sender(self, upn: str) -> None:
        if self.release_gate is not None:
            await self.release_gate.wait()
        if not self.restricted:
            raise TenantNotFound("not listed")
        if self.release_times_out:  # the call lands later, after BlockWatch gave up on it
            raise DeadlineExceeded("Exchange Online did not answer in time")
        self.restricted = False
        self.released += 1

    async def reset_password(self, user_id: str, password: str) -> None:
        self.passwords += 1

    async def revoke_sessions(self, user_id: str) -> None:
        if self.revoke_gate is not None:
            await self.revoke_gate.wait()
        self.revoked += 1

    async def set_sign_in_blocked(self, user_id: str, blocked: bool) -> None:
        self.blocked = blocked

    async def clear_forwarding(self, upn: str) -> None:
        self.forwarding = None

    async def disable_inbox_rule(self, upn: str, rule_id: str) -> None:
        self.rules[rule_id] = False

    async def enable_inbox_rule(self, upn: str, rule_id: str) -> None:
        if self.enable_refused:
            raise TenantForbidden("Enable-InboxRule is not in the app's role", service="Exchange")
        self.rules[rule_id] = True

    async def restore_forwarding(
        self, upn: str, smtp_address: str | None, forwarding_address: str | None, *, keep_copy: bool
    ) -> None:
        self.forwarding = smtp_address  # as read (and recorded)
        self.keep_copy = keep_copy

    async def remove_role_assignment(self, assignment_id: str) -> None:
        raise TenantNotFound(assignment_id)

    async def remove_authentication_method(self, user_id: str, kind: str, method_id: str) -> None:
        raise TenantNotFound(method_id)


class MemorySwitch:
    """The containment policy's run-time switch, shared by the replicas of one deployment."""

    def __init__(self, audit: MemoryAudit) -> None:
        self.mode: str | None = None
        self.audit = audit

    async def containment_mode(self) -> str | None:
        return self.mode

    async def switch_containment(self, mode: str, at: datetime, event: AuditEvent) -> None:
        self.mode = mode
        await self.audit.record(event)


class MemorySenders:
    """The restricted list as the tenant has it (no list read earlier)."""

    def __init__(self, tenant: MemoryTenant) -> None:
        self._tenant = tenant

    def listed(self, upn: str) -> RestrictedSender | None:
        return None

    async def one(self, upn: str) -> tuple[RestrictedSender | None, DirectoryUser | None]:
        sender = await self._tenant.restricted_sender(upn)
        return sender, (await self._tenant.user(upn) if sender else None)


@dataclass
class Workflow:
    """The case workflow over in-memory ports, built the way bot/compose.py builds it."""

    service: CaseService
    ledger: CaseLedger
    cases: MemoryCases
    audit: MemoryAudit
    tenant: MemoryTenant
    leases: MemoryLeases
    private: Private
    announced: Announced
    clock: Clock
    switch: MemorySwitch


def workflow(
    *, runner: str = "r1", four_eyes: bool = False, containment: ContainmentPolicy | None = None
) -> Workflow:
    """A workflow whose runner `runner` is alive (with this containment policy)."""
    from bot.wiring import case_service

    audit, clock, announced = MemoryAudit(), Clock(), Announced()
    cases = MemoryCases(audit)
    ledger = CaseLedger(cases, audit, announced, clock)
    tenant, leases, private = MemoryTenant(), MemoryLeases(runner), Private()
    policy = CasePolicy(
        require_second_approver=four_eyes,
        follow_up_seconds=0.01,
        evidence_retry_seconds=0.01,
        containment=containment or ContainmentPolicy(),
    )
    switch = MemorySwitch(audit)
    service = case_service(
        policy,
        ledger,
        tenant,
        senders=MemorySenders(tenant),
        leases=leases,
        private=private,
        switch=switch,
        background=Background(),
        runner=runner,
    )
    return Workflow(
        service, ledger, cases, audit, tenant, leases, private, announced, clock, switch
    )


def replica(flow: Workflow, runner: str) -> CaseService:
    """Another replica of `flow`'s deployment: the same cases, audit trail and tenant; its own
    runner, and leases where only it is alive."""
    from bot.wiring import case_service

    return case_service(
        dataclasses.replace(flow.service.policy),
        flow.ledger,
        flow.tenant,
        senders=MemorySenders(flow.tenant),
        leases=MemoryLeases(runner),
        private=flow.private,
        switch=flow.switch,
        background=Background(),
        runner=runner,
    )
