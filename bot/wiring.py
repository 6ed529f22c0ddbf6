"""The case workflow built from its ports: its rules from the settings, then every part of it
(bot/compose.py calls this; tests/workflow.py builds the same with in-memory ports)."""

from __future__ import annotations

from datetime import timedelta

from bot.cases.background import Background
from bot.cases.checklist import Checklist
from bot.cases.investigator import Investigator
from bot.cases.ledger import CaseLedger
from bot.cases.ownership import Ownership
from bot.cases.ports import PrivateChannel, RunnerLeases, SenderLookup
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
    )


def case_service(
    policy: CasePolicy,
    ledger: CaseLedger,
    tenant: Tenant,
    *,
    senders: SenderLookup,
    leases: RunnerLeases,
    private: PrivateChannel,
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
    return CaseService(
        ledger,
        investigator,
        Checklist(ledger, investigator, tenant, private, background, runner=runner),
        releases,
        Ownership(ledger),
        senders=senders,
        leases=leases,
        background=background,
        policy=policy,
        runner=runner,
    )
