"""Builds the running service from Settings: tenant, clients, services, Teams shell, web app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.access import PLAYGROUND_TENANT, PLAYGROUND_USER, AccessPolicy, Roles, ids
from bot.alerts.delivery import Delivery
from bot.alerts.watcher import AlertPolicy, Watcher
from bot.cases.background import Background
from bot.cases.model import Case
from bot.cases.service import CasePolicy, CaseService
from bot.commands import Services
from bot.doctor import healthy, render, run_doctor
from bot.i18n import Texts, language_of
from bot.router import Clock, Router, utcnow
from bot.senders import RestrictedSenders
from bot.settings import Settings
from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario, reason_text
from bot.store.audit import AuditTrail, to_csv
from bot.store.cases import CaseStore
from bot.store.conversations import ConversationStore
from bot.store.db import current_revision, migrate, open_engine
from bot.store.leases import Leases
from bot.store.watched import WatchedSenders
from bot.teams import TeamsEndpoint
from bot.tenant.auth import BearerAuth, TokenProvider
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.tokens import ClientCredential, MsalTokens
from bot.throttle import CommandLimit
from bot.web import CHECKS, ENDPOINT, ReadinessCheck, build_web_app
from cards.alerts import digest_card
from cards.common import Card

log = logging.getLogger(__name__)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")


@dataclass
class Runtime:
    """The parts built at start-up, kept for tests and the CLI."""

    router: Router
    exchange: ExchangeClient
    graph: GraphClient
    sim: SimulatedTenant | None
    endpoint: TeamsEndpoint
    cases: CaseService
    checks: list[ReadinessCheck]
    engine: AsyncEngine
    watcher: Watcher
    delivery: Delivery


@dataclass(frozen=True)
class TenantAccess:
    """Where the tenant is and how to authenticate to it."""

    tenant_id: str
    graph_url: str
    exchange_url: str
    tokens: TokenProvider


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The one outbound HTTP client, trusting SSL_CERT_FILE / REQUESTS_CA_BUNDLE when set."""
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle:
        verify = ssl.create_default_context(cafile=settings.ca_bundle)
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
    return httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(30.0), limits=limits)


async def tenant_access(
    settings: Settings, stack: AsyncExitStack
) -> tuple[TenantAccess, SimulatedTenant | None]:
    """A real tenant from settings, or in demo mode a simulated one started on loopback."""
    if settings.demo:
        sim = SimulatedTenant(load_scenario(settings.demo_scenario))
        await sim.start()
        stack.push_async_callback(sim.stop)
        access = TenantAccess(sim.state.tenant_id, sim.graph_url, sim.exchange_url, sim.tokens())
        return access, sim
    credential = ClientCredential(
        secret=settings.client_secret.get_secret_value(),
        certificate_path=settings.client_certificate_path,
        thumbprint=settings.client_certificate_thumbprint,
    )
    tokens = MsalTokens(
        authority_url=settings.authority_url,
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        credential=credential,
        ca_bundle=settings.ca_bundle,
    )
    stack.callback(tokens.close)
    access = TenantAccess(
        settings.tenant_id, settings.graph_base_url, settings.exchange_base_url, tokens
    )
    return access, None


async def migrate_database(settings: Settings) -> tuple[str | None, str | None]:
    """`python app.py migrate`: the schema revision before and after."""
    engine = open_engine(settings.database)
    try:
        before = await current_revision(engine)
        await migrate(engine)
        return before, await current_revision(engine)
    finally:
        await engine.dispose()


async def export_audit(settings: Settings, days: int | None) -> str:
    """`python app.py export-audit`: the audit trail (or its last `days`) as CSV."""
    engine = open_engine(settings.database)
    try:
        await migrate(engine)
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        return to_csv(await AuditTrail(engine).events(since=since, limit=10_000_000))
    finally:
        await engine.dispose()


async def check_tenant(settings: Settings) -> tuple[str, bool]:
    """Run doctor against the configured tenant (in demo mode: the simulated one, over TLS
    with a real msal token flow). Returns the report and whether everything required is OK."""
    async with AsyncExitStack() as stack:
        if settings.demo:
            sim = SimulatedTenant(load_scenario(settings.demo_scenario), tls=True)
            sim.state.app.secret = secrets.token_urlsafe(24)
            await sim.start()
            stack.push_async_callback(sim.stop)
            assert sim.ca_file is not None
            settings = settings.model_copy(
                update={
                    "tenant_id": sim.state.tenant_id,
                    "client_id": sim.state.app.client_id,
                    "client_secret": SecretStr(sim.state.app.secret),
                    "authority_url": sim.authority_url,
                    "graph_base_url": sim.graph_url,
                    "exchange_base_url": sim.exchange_url,
                    "ssl_cert_file": str(sim.ca_file),
                }
            )
        http = await stack.enter_async_context(http_client(settings))
        access, _ = await tenant_access(settings, stack)
        exchange, graph = _clients(http, access)
        findings = await run_doctor(
            graph,
            exchange,
            access.tokens,
            graph_resource=access.graph_url,
            exchange_resource=access.exchange_url,
        )
        return render(findings), healthy(findings)


def _clients(http: httpx.AsyncClient, access: TenantAccess) -> tuple[ExchangeClient, GraphClient]:
    exchange = ExchangeClient(
        http,
        base_url=access.exchange_url,
        tenant_id=access.tenant_id,
        auth=BearerAuth(access.tokens, access.exchange_url),
    )
    graph = GraphClient(
        http, base_url=access.graph_url, auth=BearerAuth(access.tokens, access.graph_url)
    )
    return exchange, graph


def _reachable(http: httpx.AsyncClient, url: str) -> ReadinessCheck:
    async def probe() -> bool:
        response = await http.get(url, timeout=4.0)
        return response.status_code < 500

    return ReadinessCheck(f"tenant:{url}", probe)


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The whole service as an aiohttp application; parts start when the app starts."""
    app = build_web_app()
    app[SETTINGS] = settings

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            runtime = await start_runtime(settings, stack, clock=clock)
            app[ENDPOINT] = runtime.endpoint
            app[CHECKS] = runtime.checks
            app[RUNTIME] = runtime
            yield
            await runtime.cases.background.shutdown(settings.shutdown_grace_seconds)

    app.cleanup_ctx.append(lifecycle)
    return app


async def start_runtime(
    settings: Settings, stack: AsyncExitStack, *, clock: Clock | None = None
) -> Runtime:
    """Open the database, connect the tenant, build services and the Teams endpoint."""
    engine = open_engine(settings.database)
    stack.push_async_callback(engine.dispose)
    await migrate(engine)
    http = await stack.enter_async_context(http_client(settings))
    access, sim = await tenant_access(settings, stack)
    exchange, graph = _clients(http, access)
    conversations = ConversationStore(engine)
    endpoint = TeamsEndpoint(settings, conversations, http)
    if settings.inbound_auth:
        warming = asyncio.create_task(endpoint.keys.warm(), name="signing-keys")
        stack.push_async_callback(_stop, warming)
    background = Background()
    leases = Leases(engine)
    runner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    cases = CaseService(
        CaseStore(engine),
        AuditTrail(engine),
        exchange,
        graph,
        leases=leases,
        watchers=endpoint.outbox,
        private=endpoint.outbox,
        background=background,
        policy=CasePolicy(
            settings.require_second_approver,
            settings.follow_up_seconds,
            settings.domains,
            settings.runner_lease_seconds,
        ),
        runner=runner,
    )
    senders = RestrictedSenders(exchange, graph)
    services = Services(senders, cases, conversations, settings.card_budget_bytes)
    policy = access_policy(settings, access_tenant=access.tenant_id)
    roles = Roles(policy, graph, cache_seconds=settings.role_cache_seconds)
    limit = CommandLimit(settings.commands_per_minute, 60.0)
    router = Router(services, roles, clock=clock or utcnow, limit=limit)
    endpoint.attach(router)
    endpoint.outbox.auto_subscribe = settings.demo

    def digest(found: list[Case], locale: str | None) -> Card:
        return digest_card(found, t=Texts(language_of(locale)))

    delivery = Delivery(
        conversations, cases.store, endpoint.outbox, render=router.render_case, digest_render=digest
    )
    watcher = Watcher(
        senders,
        exchange,
        graph,
        cases,
        WatchedSenders(engine),
        leases,
        delivery,
        policy=AlertPolicy(settings.alert_poll_seconds, settings.alert_digest_threshold),
        holder=runner,
    )
    await cases.resume()
    stopping = asyncio.Event()
    loops = (("upkeep", _upkeep(cases, settings, stopping)), ("watcher", watcher.run(stopping)))
    for name, work in loops:
        stack.push_async_callback(_stop, asyncio.create_task(work, name=name), stopping)
    if sim is not None and settings.demo_restrict_after_seconds:
        task = asyncio.create_task(_demo_restriction(sim, settings.demo_restrict_after_seconds))
        stack.push_async_callback(_stop, task)
    stack.push_async_callback(leases.give_up, f"runner:{runner}", runner)
    if sim is not None:
        log.info(
            "demo mode",
            extra={"simulated_tenant": sim.base_url, "scenario": settings.demo_scenario},
        )
    checks = [
        _reachable(http, access.graph_url),
        _reachable(http, access.exchange_url),
        _database(engine),
    ]
    return Runtime(router, exchange, graph, sim, endpoint, cases, checks, engine, watcher, delivery)


def access_policy(settings: Settings, *, access_tenant: str) -> AccessPolicy:
    """Roles from settings; demo mode adds the Playground's tenant and default user."""
    viewers, responders = ids(settings.viewer_ids), ids(settings.responder_ids)
    approvers = ids(settings.approver_ids)
    tenants = {t.lower() for t in (access_tenant, settings.app_tenant_id) if t}
    if settings.demo:
        approvers |= {PLAYGROUND_USER}
        tenants.add(PLAYGROUND_TENANT)
    return AccessPolicy(
        viewers,
        responders,
        approvers,
        frozenset(tenants),
        viewer_groups=ids(settings.viewer_groups),
        responder_groups=ids(settings.responder_groups),
        approver_groups=ids(settings.approver_groups),
    )


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when shutdown begins."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


async def _upkeep(cases: CaseService, settings: Settings, stopping: asyncio.Event) -> None:
    """Renew this process's lease, interrupt dead runners' steps, purge expired history."""
    last_purge = 0.0
    while not stopping.is_set():
        try:
            await cases.upkeep()
            if time.monotonic() - last_purge > 24 * 3600:
                last_purge = time.monotonic()
                cutoff = datetime.now(UTC) - timedelta(days=settings.audit_retention_days)
                closed = await cases.store.purge_closed(cutoff)
                events = await cases.audit.purge(cutoff)
                if closed or events:
                    log.info("retention purge", extra={"cases": closed, "events": events})
        except Exception:
            log.exception("upkeep failed; trying again")
        await pause(stopping, max(0.5, settings.runner_lease_seconds / 3))


async def _demo_restriction(sim: SimulatedTenant, after: float) -> None:
    """Demo: Exchange restricts one more user a while after start-up, so an alert arrives."""
    await asyncio.sleep(after)
    restricted = {b.sender.lower() for b in sim.state.blocks}
    candidates = [u for u in sim.state.users if u.upn.lower() not in restricted]
    preferred = [u for u in candidates if u.upn.startswith("megan.bowen@")] or candidates
    if preferred:
        sim.state.restrict(preferred[0].upn, reason_text("External", 2, 637))
        log.info("demo: simulated tenant restricted a sender", extra={"upn": preferred[0].upn})


async def _stop(task: asyncio.Task[None], stopping: asyncio.Event | None = None) -> None:
    """Ask a loop to stop between rounds (cancelling it mid-query can wedge a database
    connection); cancel only if it does not stop within a few seconds."""
    if stopping is not None:
        stopping.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _database(engine: AsyncEngine) -> ReadinessCheck:
    async def probe() -> bool:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True

    return ReadinessCheck("database", probe)
