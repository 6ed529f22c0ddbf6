"""The case workflow built from its ports: its rules from the settings, then every part of it
(bot/compose.py calls this; tests/workflow.py builds the same with in-memory ports)."""

from __future__ import annotations

from datetime import timedelta

from bot.cases.background import Background
from bot.cases.checklist import Checklist
from bot.cases.contained import Mode
from bot.cases.containment import POLICY_ORDER, AutoContainment, ContainmentPolicy
from bot.cases.investigator import Investigator
from bot.cases.ledger import CaseLedger
from bot.cases.ownership import Ownership
from bot.cases.ports import PolicySwitch, PrivateChannel, RunnerLeases, SenderLookup
from bot.cases.release import Releases
from bot.cases.service import CasePolicy, CaseService
from bot.cases.tenant_ports import Tenant
from bot.settings import Settings


def case_policy(settings: Settings) -> CasePolicy:
    """The workflow's rules, as configured."""
    return CasePolicy(
        settings.require_second_approver,
        settings.follow_up_seconds,
        settings.domains,
        settings.runner_lease_seconds,
        settings.evidence_retry_seconds,
        settings.approval_expiry_seconds,
        settings.investigations_at_once,
        # A step makes a few calls, each within TENANT_DEADLINE_SECONDS, retries included.
        work_deadline_seconds=max(900.0, 10 * settings.tenant_deadline_seconds),
        containment=ContainmentPolicy(
            Mode(settings.auto_contain),
            tuple(n for n in POLICY_ORDER if n.value in settings.auto_contain_step_names),
            frozenset(settings.auto_contain_exclude_id_set),
            frozenset(settings.auto_contain_exclude_group_set),
        ),
    )


def case_service(
    policy: CasePolicy,
    ledger: CaseLedger,
    tenant: Tenant,
    *,
    senders: SenderLookup,
    leases: RunnerLeases,
    private: PrivateChannel,
    switch: PolicySwitch,
    background: Background,
    runner: str,
) -> CaseService:
    """The case workflow, every part built here from its ports."""
    investigator = Investigator(
        ledger,
        tenant,
        background,
        internal_domains=policy.internal_domains,
        retry_seconds=policy.evidence_retry_seconds,
        at_once=policy.investigations_at_once,
    )
    releases = Releases(
        ledger,
        tenant,
        background,
        runner=runner,
        require_second_approver=policy.require_second_approver,
        follow_up_seconds=policy.follow_up_seconds,
        approval_expiry=timedelta(seconds=policy.approval_expiry_seconds),
    )
    checklist = Checklist(ledger, investigator, tenant, private, background, runner=runner)
    containment = AutoContainment(
        ledger,
        checklist,
        tenant,
        switch,
        private,
        background,
        policy.containment,
        runner=runner,
    )
    investigator.when_read(containment.consider)
    return CaseService(
        ledger,
        investigator,
        checklist,
        releases,
        Ownership(ledger),
        containment,
        senders=senders,
        leases=leases,
        background=background,
        policy=policy,
        runner=runner,
    )
