"""Identities without secrets: managed identity (both protocols msal speaks, against the
simulated tenant's identity endpoint on loopback), the bot's own app registration serving as
the tenant-access app, and the tenant-access settings' names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.compose import http_client, msal_access
from bot.errors import TenantForbidden
from bot.settings import ConfigError, Credential, load_settings
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario
from bot.tenant.auth import BearerAuth
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.tokens import ManagedIdentityTokens
from tests.helpers import run_app
from tests.replicas import Processes

TENANT = "5f1b6a8e-3c2d-4e7f-9a10-2b3c4d5e6f70"
BOT = "3c1a7b52-9d4e-4f60-8a21-6b7c8d9e0f12"
OTHER = "7d2e4f61-1a2b-4c3d-8e9f-0a1b2c3d4e5f"


@pytest.fixture
async def tenant() -> AsyncIterator[SimulatedTenant]:
    sim = SimulatedTenant(load_scenario("contoso"))
    await sim.start()
    yield sim
    await sim.stop()


def _identity_calls(sim: SimulatedTenant) -> list[int]:
    return [r.status for r in sim.context.log if r.operation == "managed-identity"]


async def _clients_work(sim: SimulatedTenant, tokens: ManagedIdentityTokens) -> None:
    async with httpx.AsyncClient() as http:
        graph = GraphClient(http, base_url=sim.graph_url, auth=BearerAuth(tokens, sim.graph_url))
        exchange = ExchangeClient(
            http,
            base_url=sim.exchange_url,
            tenant_id=sim.tenant_id,
            auth=BearerAuth(tokens, sim.exchange_url),
        )
        assert await graph.users.any_user() is not None
        assert len(await exchange.restricted_senders()) == 3


async def test_system_assigned_identity_on_app_service_and_container_apps(
    tenant: SimulatedTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in tenant.managed_identity_env.items():
        monkeypatch.setenv(name, value)
    tokens = ManagedIdentityTokens()
    await _clients_work(tenant, tokens)
    assert _identity_calls(tenant) == [200, 200]  # one token per resource, then cached
    await tokens.token(tenant.graph_url)
    assert _identity_calls(tenant) == [200, 200]
    tokens.invalidate(tenant.graph_url)  # after a 401: a fresh token, not msal's cached one
    await tokens.token(tenant.graph_url)
    assert _identity_calls(tenant) == [200, 200, 200]
    tokens.close()


async def test_a_wrong_identity_header_is_refused_not_retried_forever(
    tenant: SimulatedTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", tenant.managed_identity_env["IDENTITY_ENDPOINT"])
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    tokens = ManagedIdentityTokens()
    with pytest.raises(TenantForbidden, match="no token from Microsoft Entra ID"):
        await tokens.token(tenant.graph_url)
    tokens.close()


async def test_user_assigned_identity_over_imds(
    tenant: SimulatedTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No IDENTITY_ENDPOINT: msal uses the VM's IMDS, whose host msal lets an environment
    # variable move (the AKS pod identity one); here to the simulator on loopback.
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", tenant.base_url)
    tokens = ManagedIdentityTokens(client_id=tenant.client_id)
    await _clients_work(tenant, tokens)
    assert _identity_calls(tenant) == [200, 200]
    stranger = ManagedIdentityTokens(client_id=OTHER)  # not an identity of this resource
    with pytest.raises(TenantForbidden, match="No User Assigned"):
        await stranger.token(tenant.graph_url)
    tokens.close()
    stranger.close()


@pytest.mark.parametrize(
    ("settings", "credential", "client", "described"),
    [
        (
            {"BLOCKWATCH_TENANT_ID": TENANT, "BLOCKWATCH_MANAGED_IDENTITY": "system"},
            Credential.MANAGED_IDENTITY,
            "",
            "the system-assigned managed identity",
        ),
        (
            {
                "BLOCKWATCH_TENANT_ID": TENANT,
                "BLOCKWATCH_MANAGED_IDENTITY": "User",
                "BLOCKWATCH_CLIENT_ID": OTHER,
            },
            Credential.MANAGED_IDENTITY,
            OTHER,
            f"the user-assigned managed identity {OTHER}",
        ),
        (
            {
                "MicrosoftAppId": BOT,
                "MicrosoftAppPassword": "bot-secret",
                "MicrosoftAppType": "SingleTenant",
                "MicrosoftAppTenantId": TENANT,
            },
            Credential.SECRET,
            BOT,
            f"app {BOT} with a client secret (the bot's own identity, MicrosoftAppId)",
        ),
        (
            {
                "MicrosoftAppId": BOT,
                "MicrosoftAppType": "UserAssignedMSI",
                "MicrosoftAppTenantId": TENANT,
            },
            Credential.MANAGED_IDENTITY,
            BOT,
            f"the user-assigned managed identity {BOT} (the bot's own identity, MicrosoftAppId)",
        ),
    ],
)
def test_which_identity_reaches_the_tenant(
    settings: dict[str, str], credential: Credential, client: str, described: str
) -> None:
    loaded = load_settings(**settings)
    assert loaded.demo is False
    login = loaded.tenant_login
    assert login is not None
    assert (login.tenant_id, login.credential, login.client_id) == (TENANT, credential, client)
    assert login.describe() == described
    assert "bot-secret" not in login.describe() + repr(login)


def test_the_bot_secret_serves_the_tenant_when_the_tenant_settings_are_empty() -> None:
    settings = load_settings(
        MicrosoftAppId=BOT,
        MicrosoftAppPassword="bot-secret",
        MicrosoftAppType="SingleTenant",
        MicrosoftAppTenantId=TENANT,
    )
    login = settings.tenant_login
    assert login is not None
    assert login.secret.get_secret_value() == "bot-secret"
    assert login.borrowed_from_bot


def test_the_old_short_names_are_still_read_and_the_blockwatch_names_win() -> None:
    old = load_settings(TENANT_ID=TENANT, CLIENT_ID=BOT, CLIENT_SECRET="s")
    assert (old.tenant_id, old.client_id, old.client_secret.get_secret_value()) == (
        TENANT,
        BOT,
        "s",
    )
    both = load_settings(
        TENANT_ID=TENANT, CLIENT_ID=BOT, BLOCKWATCH_CLIENT_ID=OTHER, CLIENT_SECRET="s"
    )
    assert both.client_id == OTHER


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"BLOCKWATCH_TENANT_ID": TENANT, "BLOCKWATCH_MANAGED_IDENTITY": "sometimes"},
            "BLOCKWATCH_MANAGED_IDENTITY: Input should be 'system' or 'user'",
        ),
        (
            {"BLOCKWATCH_TENANT_ID": TENANT, "BLOCKWATCH_MANAGED_IDENTITY": "user"},
            "BLOCKWATCH_CLIENT_ID missing",
        ),
        (
            {
                "BLOCKWATCH_TENANT_ID": TENANT,
                "BLOCKWATCH_CLIENT_ID": BOT,
                "BLOCKWATCH_MANAGED_IDENTITY": "system",
            },
            "BLOCKWATCH_MANAGED_IDENTITY=system takes no BLOCKWATCH_CLIENT_ID",
        ),
        (
            {
                "BLOCKWATCH_TENANT_ID": TENANT,
                "BLOCKWATCH_CLIENT_ID": BOT,
                "BLOCKWATCH_CLIENT_SECRET": "s",
                "BLOCKWATCH_MANAGED_IDENTITY": "user",
            },
            "set exactly one of BLOCKWATCH_CLIENT_SECRET, BLOCKWATCH_CLIENT_CERTIFICATE_PATH",
        ),
        (
            {"DEMO": "true", "BLOCKWATCH_TENANT_ID": TENANT},
            "DEMO=true runs the simulated tenant, but BLOCKWATCH_TENANT_ID name a real one",
        ),
    ],
)
def test_identity_mistakes_are_one_readable_line(settings: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**settings)
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_demo_true_keeps_the_simulated_tenant_with_a_bot_identity() -> None:
    settings = load_settings(
        DEMO="true",
        MicrosoftAppId=BOT,
        MicrosoftAppType="UserAssignedMSI",
        MicrosoftAppTenantId=TENANT,
    )
    assert settings.demo is True
    assert settings.tenant_login is None
    assert settings.inbound_auth is True


async def test_compose_builds_the_managed_identity_provider(
    tenant: SimulatedTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in tenant.managed_identity_env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(
        BLOCKWATCH_TENANT_ID=tenant.tenant_id,
        BLOCKWATCH_MANAGED_IDENTITY="system",
        GRAPH_BASE_URL=tenant.graph_url,
        EXCHANGE_BASE_URL=tenant.exchange_url,
    )
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        access = msal_access(settings, stack)
        assert isinstance(access.tokens, ManagedIdentityTokens)
        http = await stack.enter_async_context(http_client(settings))
        response = await http.get(
            f"{tenant.graph_url}/v1.0/users?$top=1",
            headers={"Authorization": f"Bearer {await access.tokens.token(tenant.graph_url)}"},
        )
        assert response.status_code == 200


@pytest.fixture
def tls_tenant(tmp_path: Path) -> Iterator[dict[str, str]]:
    processes = Processes(tmp_path)
    settings = processes.start_tenant("contoso")
    yield settings
    processes.stop_all()


def test_doctor_says_which_identity_it_used(tmp_path: Path, tls_tenant: dict[str, str]) -> None:
    tenant_id = tls_tenant["BLOCKWATCH_TENANT_ID"]
    where = {
        "GRAPH_BASE_URL": tls_tenant["GRAPH_BASE_URL"],
        "EXCHANGE_BASE_URL": tls_tenant["EXCHANGE_BASE_URL"],
        "SSL_CERT_FILE": tls_tenant["SSL_CERT_FILE"],
        "AUTHORITY_URL": tls_tenant["AUTHORITY_URL"],
    }
    managed = run_app(
        tmp_path,
        where
        | {
            "BLOCKWATCH_TENANT_ID": tls_tenant["BLOCKWATCH_TENANT_ID"],
            "BLOCKWATCH_MANAGED_IDENTITY": "system",
            "IDENTITY_ENDPOINT": tls_tenant["SIM_IDENTITY_ENDPOINT"],
            "IDENTITY_HEADER": tls_tenant["SIM_IDENTITY_HEADER"],
        },
        "doctor",
    )
    assert managed.returncode == 0, managed.stdout + managed.stderr
    assert managed.stdout.startswith(
        f"Checked: tenant {tenant_id} as the system-assigned managed identity"
    )
    assert managed.stdout.strip().endswith("Everything required is in place.")
    # One registration: the bot's app id and password, no tenant-access settings at all.
    borrowed = run_app(
        tmp_path,
        where
        | {
            "MicrosoftAppId": tls_tenant["BLOCKWATCH_CLIENT_ID"],
            "MicrosoftAppPassword": tls_tenant["BLOCKWATCH_CLIENT_SECRET"],
            "MicrosoftAppType": "SingleTenant",
            "MicrosoftAppTenantId": tls_tenant["BLOCKWATCH_TENANT_ID"],
        },
        "doctor",
    )
    assert borrowed.returncode == 0, borrowed.stdout + borrowed.stderr
    assert borrowed.stdout.startswith(
        f"Checked: tenant {tenant_id} as app {tls_tenant['BLOCKWATCH_CLIENT_ID']} with a "
        "client secret (the bot's own identity, MicrosoftAppId)"
    )
    assert tls_tenant["BLOCKWATCH_CLIENT_SECRET"] not in borrowed.stdout + borrowed.stderr
