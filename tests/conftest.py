"""Shared fixtures: the simulated tenant, a connector recorder and the bot on real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.compose import RUNTIME, Runtime, build_app
from bot.settings import load_settings
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario
from bot.tenant.auth import BearerAuth
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from tests.helpers import Recorder

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Tests never read the developer's .env or environment settings."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "HOST",
        "PORT",
        "TENANT_ID",
        "CLIENT_ID",
        "CLIENT_SECRET",
        "MicrosoftAppId",
        "MicrosoftAppPassword",
        "MicrosoftAppType",
        "MicrosoftAppTenantId",
        "DEMO_SCENARIO",
        "DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedTenant]:
    """The contoso scenario on a loopback port."""
    tenant = SimulatedTenant(load_scenario("contoso"))
    await tenant.start()
    yield tenant
    await tenant.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain outbound HTTP client, as app.py builds one."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def bearer(sim: SimulatedTenant, service: str) -> dict[str, str]:
    """The Authorization header the app would send to `graph` or `exchange`."""
    url = sim.graph_url if service == "graph" else sim.exchange_url
    return {"Authorization": f"Bearer {await sim.tokens().token(url)}"}


def graph_client(sim: SimulatedTenant, http: httpx.AsyncClient, **kw: Any) -> GraphClient:
    """The production Graph client pointed at the simulated tenant."""
    return GraphClient(
        http, base_url=sim.graph_url, auth=BearerAuth(sim.tokens(), sim.graph_url), **kw
    )


def exchange_client(sim: SimulatedTenant, http: httpx.AsyncClient, **kw: Any) -> ExchangeClient:
    """The production Exchange client pointed at the simulated tenant."""
    return ExchangeClient(
        http,
        base_url=sim.exchange_url,
        tenant_id=sim.state.tenant_id,
        auth=BearerAuth(sim.tokens(), sim.exchange_url),
        **kw,
    )


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    """A Bot Connector stand-in on an ephemeral port."""
    rec = Recorder()
    server = TestServer(rec.app(), host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("/")).rstrip("/") + "/"
    yield rec
    await server.close()


class BotUnderTest:
    """The whole bot on a real port, plus a client that POSTs activities to it."""

    def __init__(self, server: TestServer, client: httpx.AsyncClient) -> None:
        self.server = server
        self.client = client

    @property
    def runtime(self) -> Runtime:
        """The running parts (router, clients, simulated tenant)."""
        return self.server.app[RUNTIME]

    @property
    def sim(self) -> SimulatedTenant:
        """The simulated tenant of this demo-mode bot."""
        assert self.runtime.sim is not None
        return self.runtime.sim

    async def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        """POST an activity (or raw content) to /api/messages."""
        return await self.client.post("/api/messages", json=body, **kwargs)


@pytest.fixture
async def start_bot() -> AsyncIterator[Callable[..., Any]]:
    """Start the bot in demo mode with optional settings; every one is stopped afterwards."""
    started: list[BotUnderTest] = []

    async def start(**settings: Any) -> BotUnderTest:
        app: web.Application = build_app(load_settings(**settings))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        client = httpx.AsyncClient(base_url=str(server.make_url("/")), timeout=30)
        started.append(BotUnderTest(server, client))
        return started[-1]

    yield start
    for under_test in started:
        await under_test.client.aclose()
        await under_test.server.close()


@pytest.fixture
async def bot(start_bot: Callable[..., Any]) -> BotUnderTest:
    """The demo-mode bot with the contoso scenario."""
    under_test: BotUnderTest = await start_bot()
    return under_test
