"""App-only tokens from msal against the simulated Entra ID over TLS (secret and certificate)."""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.compose import http_client
from bot.errors import TenantForbidden, TenantUnavailable
from bot.logs import configure_logging
from bot.settings import load_settings
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario
from bot.tenant.auth import BearerAuth
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.tokens import ClientCredential, MsalTokens

SECRET = "sim-secret-not-real"


@pytest.fixture
async def tls_tenant(tmp_path: Path) -> AsyncIterator[SimulatedTenant]:
    sim = SimulatedTenant(load_scenario("compromised"), tls=True, workdir=tmp_path / "tls")
    await sim.start()
    yield sim
    await sim.stop()


def _tokens(
    sim: SimulatedTenant, credential: ClientCredential, *, ca: bool = True, clock: Any = None
) -> MsalTokens:
    extra = {"clock": clock} if clock else {}
    return MsalTokens(
        authority_url=sim.authority_url,
        tenant_id=sim.state.tenant_id,
        client_id=sim.state.app.client_id,
        credential=credential,
        ca_bundle=str(sim.ca_file) if ca else None,
        **extra,
    )


def _http(sim: SimulatedTenant) -> httpx.AsyncClient:
    return http_client(load_settings(SSL_CERT_FILE=str(sim.ca_file)))


def _token_requests(sim: SimulatedTenant) -> int:
    return sum(1 for r in sim.requests if r.service == "identity" and r.status == 200)


async def test_secret_gets_tokens_per_resource_and_clients_work_over_tls(
    tls_tenant: SimulatedTenant,
) -> None:
    tokens = _tokens(tls_tenant, ClientCredential(secret=SECRET))
    async with _http(tls_tenant) as http:
        exchange = ExchangeClient(
            http,
            base_url=tls_tenant.exchange_url,
            tenant_id=tls_tenant.state.tenant_id,
            auth=BearerAuth(tokens, tls_tenant.exchange_url),
        )
        graph = GraphClient(
            http, base_url=tls_tenant.graph_url, auth=BearerAuth(tokens, tls_tenant.graph_url)
        )
        assert len(await exchange.restricted_senders()) == 2
        assert (
            await graph.users.user("li.lei@contoso.onmicrosoft.com")
        ).display_name == "李雷 (Li Lei)"
        await exchange.restricted_senders()
    assert tls_tenant.base_url.startswith("https://")
    assert _token_requests(tls_tenant) == 2  # one per resource, then cached


async def test_certificate_credential(tls_tenant: SimulatedTenant, tmp_path: Path) -> None:
    pem_path, thumbprint = _certificate(tmp_path, tls_tenant)
    tokens = _tokens(tls_tenant, ClientCredential(certificate_path=pem_path, thumbprint=thumbprint))
    token = await tokens.token(tls_tenant.graph_url)
    assert token.count(".") == 2
    assert _token_requests(tls_tenant) == 1


async def test_refreshed_shortly_before_expiry(tls_tenant: SimulatedTenant) -> None:
    now = [1_000_000.0]
    tokens = _tokens(tls_tenant, ClientCredential(secret=SECRET), clock=lambda: now[0])
    await tokens.token(tls_tenant.graph_url)
    now[0] += 3000  # 10 minutes before the hour is up: still fresh
    await tokens.token(tls_tenant.graph_url)
    assert _token_requests(tls_tenant) == 1
    now[0] += 400  # inside the 5-minute margin
    await tokens.token(tls_tenant.graph_url)
    assert _token_requests(tls_tenant) == 2


async def test_invalidate_fetches_a_new_token(tls_tenant: SimulatedTenant) -> None:
    tokens = _tokens(tls_tenant, ClientCredential(secret=SECRET))
    await tokens.token(tls_tenant.exchange_url)
    tokens.invalidate(tls_tenant.exchange_url)
    await tokens.token(tls_tenant.exchange_url)
    assert _token_requests(tls_tenant) == 2


async def test_wrong_secret_is_forbidden_without_echoing_it(tls_tenant: SimulatedTenant) -> None:
    tokens = _tokens(tls_tenant, ClientCredential(secret="wrong-secret-value"))
    with pytest.raises(TenantForbidden) as caught:
        await tokens.token(tls_tenant.graph_url)
    assert caught.value.code == "invalid_client"
    assert "AADSTS7000215" in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value)


async def test_untrusted_tls_is_unavailable(tls_tenant: SimulatedTenant) -> None:
    tokens = _tokens(tls_tenant, ClientCredential(secret=SECRET), ca=False)
    with pytest.raises(TenantUnavailable, match="Microsoft Entra ID"):
        await tokens.token(tls_tenant.graph_url)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The production log configuration at DEBUG, writing into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.raiseExceptions)
    buffer = io.StringIO()
    configure_logging("DEBUG", buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.raiseExceptions = saved[2]


async def test_no_secret_token_or_key_in_any_log_line(
    tls_tenant: SimulatedTenant, tmp_path: Path, capsys: pytest.CaptureFixture[str], json_logs: None
) -> None:
    pem_path, thumbprint = _certificate(tmp_path, tls_tenant)
    secret_tokens = _tokens(tls_tenant, ClientCredential(secret=SECRET))
    cert_tokens = _tokens(
        tls_tenant, ClientCredential(certificate_path=pem_path, thumbprint=thumbprint)
    )
    issued = [
        await secret_tokens.token(tls_tenant.graph_url),
        await cert_tokens.token(tls_tenant.exchange_url),
    ]
    logging.getLogger("bot.test").info("token was %s", issued[0])
    logging.getLogger("bot.test").warning("headers: {'Authorization': 'Bearer %s'}", issued[1])
    with pytest.raises(TenantForbidden):
        await _tokens(tls_tenant, ClientCredential(secret="wrong-secret-value")).token(
            tls_tenant.graph_url
        )
    async with _http(tls_tenant) as http:
        exchange = ExchangeClient(
            http,
            base_url=tls_tenant.exchange_url,
            tenant_id=tls_tenant.state.tenant_id,
            auth=BearerAuth(secret_tokens, tls_tenant.exchange_url),
        )
        await exchange.restricted_senders()
    try:
        raise RuntimeError(f"client_secret={SECRET}")
    except RuntimeError:
        logging.getLogger("bot.test").exception("failure while authenticating")
    logged = json_logs.getvalue()
    assert "token was [redacted]" in logged
    key_body = pem_path.read_text().split("-----")[2].strip().splitlines()[1]
    for secret in [SECRET, "wrong-secret-value", key_body, *issued]:
        assert secret not in logged


def _certificate(tmp_path: Path, sim: SimulatedTenant) -> tuple[Path, str]:
    """An RSA certificate registered on the simulated app; returns (PEM with key, thumbprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BlockWatch test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sim.state.app.certificate_pem = cert_pem
    path = tmp_path / "blockwatch.pem"
    path.write_text(key_pem + cert_pem)
    thumbprint = sim.state.app.thumbprint()
    assert thumbprint is not None
    return path, thumbprint


async def test_bot_in_production_configuration_answers_from_the_tenant(
    tls_tenant: SimulatedTenant, start_bot: Any, recorder: Any
) -> None:
    from tests.helpers import activity, texts_of

    bot = await start_bot(
        TENANT_ID=tls_tenant.state.tenant_id,
        CLIENT_ID=tls_tenant.state.app.client_id,
        CLIENT_SECRET=SECRET,
        AUTHORITY_URL=tls_tenant.authority_url,
        GRAPH_BASE_URL=tls_tenant.graph_url,
        EXCHANGE_BASE_URL=tls_tenant.exchange_url,
        SSL_CERT_FILE=str(tls_tenant.ca_file),
        HOST="127.0.0.1",
    )
    assert bot.runtime.sim is None
    response = await bot.post(activity("who is blocked", service_url=recorder.url))
    assert response.status_code == 201
    lines = texts_of(recorder.cards()[-1])
    assert "2 users are restricted from sending email." in lines
    assert "Joost van den Bergh" in lines
    assert _token_requests(tls_tenant) == 2
    assert (await bot.client.get("/readyz")).status_code == 200
