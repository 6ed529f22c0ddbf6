"""Every Graph and Exchange client method against the compromised scenario, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.errors import NotAvailableInTenant, TenantForbidden, TenantNotFound, TenantRequestFailed
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from tests.conftest import exchange_client, graph_client

JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
SANNE = "sanne.devries@contoso.onmicrosoft.com"
SYNC = "Sync [Verify your admin account](https://evil.example/login) **now**"  # the attacker's


@pytest.fixture
async def tenant() -> AsyncIterator[SimulatedTenant]:
    sim = SimulatedTenant(load_scenario("compromised"))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def graph(tenant: SimulatedTenant, http: httpx.AsyncClient) -> GraphClient:
    return graph_client(tenant, http)


@pytest.fixture
def exchange(tenant: SimulatedTenant, http: httpx.AsyncClient) -> ExchangeClient:
    return exchange_client(tenant, http)


def _id(tenant: SimulatedTenant, upn: str) -> str:
    user = tenant.state.user(upn)
    assert user is not None
    return user.id


async def test_forwarding_read_and_cleared(
    tenant: SimulatedTenant, exchange: ExchangeClient
) -> None:
    before = await exchange.mailbox_forwarding(JOOST)
    assert before.smtp_address == "j.vandenbergh.backup@proton-mailbox.example"
    assert before.deliver_and_forward is True
    assert before.active
    await exchange.clear_forwarding(JOOST)
    await exchange.clear_forwarding(JOOST)  # repeating it is harmless
    after = await exchange.mailbox_forwarding(JOOST)
    assert (after.smtp_address, after.forwarding_address, after.active) == (None, None, False)
    assert tenant.state.evidence_of(JOOST).forwarding_smtp is None


async def test_inbox_rules_include_hidden_ones_marked(exchange: ExchangeClient) -> None:
    rules = {r.name: r for r in await exchange.inbox_rules(JOOST)}
    assert set(rules) == {".", "Archive updates", SYNC, "Newsletter"}
    assert rules[SYNC].recipients == ("zoe@mailbox-rel\u0430y.example",)
    hidden = rules["."]
    assert hidden.hidden is True
    assert hidden.delete is True
    assert hidden.words == ("invoice", "payment", "hacked", "phishing")
    rss = rules["Archive updates"]
    assert (rss.hidden, rss.move_to_folder, rss.mark_as_read) == (False, "RSS Subscriptions", True)
    assert rss.from_addresses == ("finance@fabrikam.example",)


async def test_disable_inbox_rule_even_hidden(
    tenant: SimulatedTenant, exchange: ExchangeClient
) -> None:
    await exchange.disable_inbox_rule(JOOST, "1111000000000000001")
    states = {r.name: r.enabled for r in tenant.state.evidence_of(JOOST).rules}
    assert states == {".": False, "Archive updates": True, SYNC: True, "Newsletter": True}
    with pytest.raises(TenantNotFound):
        await exchange.disable_inbox_rule(JOOST, "999")


async def test_delegates_skip_self(exchange: ExchangeClient) -> None:
    delegates = await exchange.delegates(JOOST)
    assert [(d.user, d.rights) for d in delegates] == [
        ("svc-sync@contoso.onmicrosoft.com", "FullAccess")
    ]
    assert await exchange.delegates(SANNE) == []


async def test_mailbox_not_found(exchange: ExchangeClient) -> None:
    with pytest.raises(TenantNotFound, match="couldn't be found"):
        await exchange.mailbox_forwarding("ghost@contoso.onmicrosoft.com")


async def test_authentication_methods(tenant: SimulatedTenant, graph: GraphClient) -> None:
    methods = await graph.signins.authentication_methods(_id(tenant, JOOST))
    assert [(m.kind, m.detail) for m in methods] == [
        ("password", ""),
        ("microsoftAuthenticator", "iPhone 13"),
        ("phone", "+234 803 555 0199"),
    ]
    assert methods[1].created is not None
    assert methods[2].created is None  # Graph v1.0 phone methods carry no creation time


async def test_role_assignments_and_removal(tenant: SimulatedTenant, graph: GraphClient) -> None:
    sanne = _id(tenant, SANNE)
    roles = await graph.access.role_assignments(sanne)
    assert [r.role_name for r in roles] == ["Exchange Administrator"]
    await graph.access.remove_role_assignment(roles[0].id)
    assert await graph.access.role_assignments(sanne) == []
    assert await graph.access.role_assignments(_id(tenant, JOOST)) == []


async def test_risky_user(tenant: SimulatedTenant, graph: GraphClient) -> None:
    risk = await graph.signins.risky_user(_id(tenant, JOOST))
    assert risk is not None
    assert (risk.level, risk.state) == ("high", "atRisk")
    assert await graph.signins.risky_user(_id(tenant, SANNE)) is None


async def test_risky_user_without_p2_is_not_available(
    tenant: SimulatedTenant, graph: GraphClient
) -> None:
    tenant.state.licences.discard("AAD_PREMIUM_P2")
    with pytest.raises(NotAvailableInTenant) as caught:
        await graph.signins.risky_user(_id(tenant, JOOST))
    assert caught.value.licence == "Microsoft Entra ID P2"


async def test_sign_ins_filtered_by_time(tenant: SimulatedTenant, graph: GraphClient) -> None:
    now = datetime.now(UTC)
    recent = await graph.signins.sign_ins(_id(tenant, JOOST), since=now - timedelta(hours=3))
    assert [(s.country, s.succeeded) for s in recent] == [("NG", True), ("NL", True), ("NG", False)]
    week = await graph.signins.sign_ins(_id(tenant, JOOST), since=now - timedelta(days=7))
    assert len(week) == 4


async def test_sign_ins_without_p1_is_not_available(
    tenant: SimulatedTenant, graph: GraphClient
) -> None:
    tenant.state.licences.clear()
    with pytest.raises(NotAvailableInTenant) as caught:
        await graph.signins.sign_ins(
            _id(tenant, JOOST), since=datetime.now(UTC) - timedelta(days=7)
        )
    assert caught.value.licence == "Microsoft Entra ID P1"
    assert caught.value.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


async def test_consent_grants_name_the_app(tenant: SimulatedTenant, graph: GraphClient) -> None:
    grants = await graph.access.consent_grants(_id(tenant, JOOST))
    assert [(g.client_name, g.scope, g.verified_publisher) for g in grants] == [
        ("Mail Backup Pro", "Mail.ReadWrite Mail.Send offline_access", None),
        (
            "Mail Backup [Approve access](https://evil.example/consent)",
            "Mail.Read offline_access",
            None,
        ),
    ]


async def test_sent_messages_are_paged(tenant: SimulatedTenant, graph: GraphClient) -> None:
    tenant.state.graph_page_size = 100
    sent = await graph.mail.sent_messages(JOOST, since=datetime.now(UTC) - timedelta(hours=24))
    assert len(sent) == 420
    assert {m.recipient for m in sent} >= {"ap@fabrikam.example", "billing@northwind.example"}
    pages = [
        r for r in tenant.requests if r.operation == "GET /admin/exchange/tracing/messageTraces"
    ]
    assert len(pages) == 1  # $top=1000 asked; the simulator's page cap is $top itself


async def test_security_alerts(tenant: SimulatedTenant, graph: GraphClient) -> None:
    tenant.state.restrict("megan.bowen@contoso.onmicrosoft.com", "ExceedingLimitType=External")
    alerts = await graph.alerts.security_alerts(since=datetime.now(UTC) - timedelta(days=1))
    assert {a.upns for a in alerts} == {
        (JOOST,),
        ("zoe.angstrom@contoso.onmicrosoft.com",),
        ("megan.bowen@contoso.onmicrosoft.com",),
    }
    assert {a.title for a in alerts} == {"User restricted from sending email"}


async def test_password_reset_block_and_revoke_change_the_tenant(
    tenant: SimulatedTenant, graph: GraphClient
) -> None:
    user_id = _id(tenant, JOOST)
    assert (await graph.users.user(user_id)).password_changed is None
    before = datetime.now(UTC) - timedelta(seconds=1)
    await graph.users.reset_password(user_id, "Vx7!qLm2#Rt9-pZk")
    changed = (await graph.users.user(user_id)).password_changed  # lastPasswordChangeDateTime
    assert changed is not None
    assert changed >= before
    await graph.users.revoke_sessions(user_id)
    await graph.users.set_sign_in_blocked(user_id, True)
    evidence = tenant.state.evidence_of(JOOST)
    assert evidence.password_changed is not None
    assert evidence.force_change is True
    assert evidence.sessions_revoked is not None
    user = tenant.state.user(JOOST)
    assert user is not None
    assert user.account_enabled is False
    await graph.users.set_sign_in_blocked(user_id, False)
    assert user.account_enabled is True


async def test_weak_or_federated_password_reset_is_refused(
    tenant: SimulatedTenant, graph: GraphClient
) -> None:
    with pytest.raises(TenantRequestFailed, match="complexity"):
        await graph.users.reset_password(_id(tenant, JOOST), "password")
    with pytest.raises(TenantRequestFailed, match="federated"):
        await graph.users.reset_password(
            _id(tenant, "hybrid.user@contoso.onmicrosoft.com"), "Vx7!qLm2#Rt9-pZk"
        )


async def test_missing_permission_is_named(tenant: SimulatedTenant, graph: GraphClient) -> None:
    tenant.state.app.graph_roles.discard("User-PasswordProfile.ReadWrite.All")
    with pytest.raises(TenantForbidden) as caught:
        await graph.users.reset_password(_id(tenant, JOOST), "Vx7!qLm2#Rt9-pZk")
    assert caught.value.permission == "User-PasswordProfile.ReadWrite.All"
    assert tenant.state.evidence_of(JOOST).password_changed is None


async def test_missing_exchange_role_group_cmdlet_is_forbidden(
    tenant: SimulatedTenant, exchange: ExchangeClient
) -> None:
    tenant.state.exchange_cmdlets = {"Get-BlockedSenderAddress"}
    assert len(await exchange.restricted_senders()) == 2
    with pytest.raises(TenantForbidden) as caught:
        await exchange.release_sender(JOOST)
    assert caught.value.permission == "an Exchange role that includes Remove-BlockedSenderAddress"
    assert tenant.state.block(JOOST) is not None
