"""Shared fixtures: the simulated tenant, a connector recorder and the bot on real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import RUNTIME, Runtime, build_app
from bot.settings import TENANT_SETTINGS, load_settings
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario
from bot.store.db import migrate, open_engine
from bot.tenant.auth import BearerAuth
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from tests.helpers import Recorder

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# The Entra object ids of the admins the tests act as (tests/helpers.py, test_case_flow.py).
TEST_ADMINS = ("00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b2")


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
        "CLIENT_CERTIFICATE_PATH",
        "CLIENT_CERTIFICATE_THUMBPRINT",
        *TENANT_SETTINGS,
        "DEMO",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
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


PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _postgres_schema() -> tuple[AsyncEngine, str]:
    """An engine on a fresh PostgreSQL schema; fails under CI, skips elsewhere, if absent."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = open_engine(PG_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    except (OSError, SQLAlchemyError) as err:
        await admin.dispose()
        if os.environ.get("CI"):
            raise RuntimeError(f"CI needs PostgreSQL at 127.0.0.1:5432 (test): {err}") from err
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {type(err).__name__}")
    await admin.dispose()
    engine = open_engine(PG_URL, connect_args={"server_settings": {"search_path": name}})
    return engine, name


async def _drop_schema(name: str) -> None:
    admin = open_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database: SQLite in a temp file, or PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        db = open_engine(f"sqlite+aiosqlite:///{tmp_path}/blockwatch.db")
        await migrate(db)
        yield db
        await db.dispose()
        return
    db, schema = await _postgres_schema()
    await migrate(db)
    yield db
    await db.dispose()
    await _drop_schema(schema)


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
async def start_bot(recorder: Recorder) -> AsyncIterator[Callable[..., Any]]:
    """Start the bot in demo mode with optional settings; every one is stopped afterwards
    (before the recorder, so background card updates still have somewhere to go)."""
    started: list[BotUnderTest] = []

    async def start(**settings: Any) -> BotUnderTest:
        settings.setdefault("APPROVER_IDS", ",".join(TEST_ADMINS))
        app: web.Application = build_app(load_settings(**settings))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        client = httpx.AsyncClient(base_url=str(server.make_url("/")), timeout=30)
        started.append(BotUnderTest(server, client))
        return started[-1]

    yield start
    for under_test in started:
        await under_test.runtime.cases.idle()
        await under_test.client.aclose()
        await under_test.server.close()


@pytest.fixture
async def bot(start_bot: Callable[..., Any]) -> BotUnderTest:
    """The demo-mode bot with the contoso scenario."""
    under_test: BotUnderTest = await start_bot()
    return under_test
