"""The composition root: builds the running service from Settings, once, in dependency order.

    tenant access → clients → store → Teams channel (adapter, outbox) → case views →
    case service → chat services → router → Teams endpoint → aiohttp app

Nothing is wired after construction: each part gets what it needs when it is built.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import demo, tracing
from bot.alerts.delivery import Delivery
from bot.alerts.watcher import AlertPolicy, Watcher
from bot.cases.background import Background
from bot.cases.bulk import Bulk
from bot.cases.ledger import CaseLedger
from bot.cases.service import CaseService
from bot.chat.access import PLAYGROUND_TENANT, PLAYGROUND_USER, AccessPolicy, Roles, ids
from bot.chat.context import Services
from bot.chat.foreign import ForeignRefusals
from bot.chat.gate import Gate
from bot.chat.limits import CommandLimit
from bot.chat.pacing import PacedOutbox
from bot.chat.router import Router
from bot.chat.views import CaseViews
from bot.chat.waves import WaveViews
from bot.settings import Credential, Settings
from bot.store.audit import AuditTrail
from bot.store.budgets import SharedBudgets
from bot.store.cases import CaseStore
from bot.store.claims import CardClaims
from bot.store.conversations import ConversationStore
from bot.store.db import migrate, open_engine
from bot.store.leases import Leases
from bot.store.watched import WatchedSenders
from bot.store.waves import WaveStore
from bot.teams.endpoint import TeamsChannel, TeamsEndpoint
from bot.teams.web import CHECKS, ENDPOINT, ReadinessCheck, build_web_app
from bot.tenant import request_ids
from bot.tenant.auth import BearerAuth, TokenProvider
from bot.tenant.budgets import Budgets
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.http import RetryPolicy
from bot.tenant.port import M365Tenant
from bot.tenant.senders import RestrictedSenders
from bot.tenant.tokens import ClientCredential, ManagedIdentityTokens, MsalTokens
from cards.portals import cloud_of

if TYPE_CHECKING:
    from bot.sim.server import SimulatedTenant

from bot.core.clock import Clock, utcnow
from bot.readiness import database_check, schema_check
from bot.upkeep import stop_task, upkeep_loop
from bot.wiring import case_policy, case_service

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
    audit: AuditTrail
    conversations: ConversationStore
    checks: list[ReadinessCheck]
    engine: AsyncEngine
    watcher: Watcher
    delivery: Delivery
    foreign: ForeignRefusals
    bulk: Bulk
    waves: WaveViews


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
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    if tracing.active is not None:  # a client span per call to Microsoft
        transport = tracing.TracedTransport(transport, tracing.active.tracer)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(30.0),
        event_hooks=request_ids.EVENT_HOOKS,  # client-request-id out, Microsoft's ids logged
    )


def msal_access(settings: Settings, stack: AsyncExitStack) -> TenantAccess:
    """A real tenant from the settings, tokens from Entra ID through msal: the tenant-access
    app's secret or certificate, a managed identity, or the bot's own identity."""
    login = settings.tenant_login
    assert login is not None, "demo mode has no tenant login"
    tokens: MsalTokens | ManagedIdentityTokens
    if login.credential is Credential.MANAGED_IDENTITY:
        tokens = ManagedIdentityTokens(client_id=login.client_id, ca_bundle=settings.ca_bundle)
    else:
        tokens = MsalTokens(
            authority_url=settings.authority_url,
            tenant_id=login.tenant_id,
            client_id=login.client_id,
            credential=ClientCredential(
                secret=login.secret.get_secret_value(),
                certificate_path=login.certificate_path,
                thumbprint=login.thumbprint,
            ),
            ca_bundle=settings.ca_bundle,
        )
    stack.callback(tokens.close)
    return TenantAccess(
        login.tenant_id, settings.graph_base_url, settings.exchange_base_url, tokens
    )


def clients(
    http: httpx.AsyncClient,
    access: TenantAccess,
    budgets: Budgets | None = None,
    *,
    deadline: float = 60.0,
) -> tuple[ExchangeClient, GraphClient]:
    """The Exchange and Graph clients of a tenant (Graph within Microsoft's rate budgets; each
    operation, its retries included, within `deadline` seconds)."""
    policy = RetryPolicy(deadline=deadline)
    exchange = ExchangeClient(
        http,
        base_url=access.exchange_url,
        tenant_id=access.tenant_id,
        auth=BearerAuth(access.tokens, access.exchange_url),
        policy=policy,
    )
    graph = GraphClient(
        http,
        base_url=access.graph_url,
        auth=BearerAuth(access.tokens, access.graph_url),
        policy=policy,
        budgets=budgets,
    )
    return exchange, graph


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
            await runtime.cases.shutdown(settings.shutdown_grace_seconds)

    app.cleanup_ctx.append(lifecycle)
    return app


async def _tenant(
    settings: Settings, stack: AsyncExitStack
) -> tuple[TenantAccess, SimulatedTenant | None]:
    if not settings.demo:
        return msal_access(settings, stack), None
    moment = demo.scenario_moment(settings.demo_database)
    sim = await demo.start_tenant(settings.demo_scenario, stack, now=moment)
    log.info(
        "demo mode", extra={"simulated_tenant": sim.base_url, "scenario": settings.demo_scenario}
    )
    return TenantAccess(sim.tenant_id, sim.graph_url, sim.exchange_url, sim.tokens()), sim


async def start_runtime(
    settings: Settings, stack: AsyncExitStack, *, clock: Clock | None = None
) -> Runtime:
    """Open the database, connect the tenant, build services and the Teams endpoint."""
    now = clock or utcnow
    await _start_tracing(stack)
    if settings.demo_database is not None and not settings.demo_keep_state:
        demo.start_afresh(settings.demo_database)
    engine = open_engine(settings.database)
    stack.push_async_callback(engine.dispose)
    await migrate(engine)
    http = await stack.enter_async_context(http_client(settings))
    access, sim = await _tenant(settings, stack)
    exchange, graph = clients(
        http, access, SharedBudgets(engine), deadline=settings.tenant_deadline_seconds
    )
    store, audit = CaseStore(engine), AuditTrail(engine)
    conversations, leases = ConversationStore(engine), Leases(engine)
    channel = TeamsChannel(settings, http)
    stack.push_async_callback(channel.aclose)
    if settings.inbound_auth:
        warming = asyncio.create_task(channel.keys.warm(), name="signing-keys")
        stack.push_async_callback(stop_task, warming)
    outbox = PacedOutbox(channel.outbox)
    background = Background()
    roles = Roles(
        access_policy(settings, access_tenant=access.tenant_id),
        graph.users,
        cache_seconds=settings.role_cache_seconds,
    )
    views = CaseViews(
        store,
        conversations,
        CardClaims(engine, hold=timedelta(seconds=30)),
        outbox,
        background,
        clock=now,
        budget=settings.card_budget_bytes,
        role_of=roles.role_of,
        cloud=cloud_of(settings.graph_base_url),
    )
    runner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    senders = RestrictedSenders(exchange, graph, fresh_seconds=settings.list_fresh_seconds)
    watched = WatchedSenders(engine)
    cases = case_service(
        case_policy(settings),
        CaseLedger(store, audit, views, now),
        M365Tenant(exchange, graph),
        senders=senders,
        leases=leases,
        private=outbox,
        switch=watched,
        background=background,
        runner=runner,
    )
    wave_views = WaveViews(
        WaveStore(engine),
        store,
        conversations,
        outbox,
        background,
        clock=now,
        role_of=roles.role_of,
    )
    views.also.append(wave_views.case_changed)
    bulk = Bulk(
        wave_views.waves,
        cases,
        leases,
        background,
        runner=runner,
        announce=wave_views.wave_changed,
    )
    services = Services(
        senders,
        cases,
        views,
        audit,
        conversations,
        settings.card_budget_bytes,
        wave_views,
        bulk,
    )
    gate = Gate(
        roles,
        CommandLimit(settings.commands_per_minute, 60.0),
        audit,
        conversations,
        auto_subscribe=settings.demo,
    )
    router = Router(services, gate, clock=now)
    endpoint = TeamsEndpoint(channel, router)
    delivery = Delivery(conversations, store, outbox, views, wave_views)
    watcher = Watcher(
        senders,
        exchange,
        graph,
        cases,
        watched,
        leases,
        delivery,
        wave_views.waves,
        policy=AlertPolicy(settings.alert_poll_seconds, settings.alert_digest_threshold),
        holder=runner,
        clock=now,
        wave_changed=wave_views.wave_changed,
    )
    await cases.resume()
    stopping = asyncio.Event()
    upkeep = upkeep_loop(cases, views, gate.foreign, settings, stopping, now, bulk, wave_views)
    loops = (("upkeep", upkeep), ("watcher", watcher.run(stopping)))
    for name, work in loops:
        stack.push_async_callback(stop_task, asyncio.create_task(work, name=name), stopping)
    if sim is not None and settings.demo_restrict_after_seconds:
        task = asyncio.create_task(demo.restrict_later(sim, settings.demo_restrict_after_seconds))
        stack.push_async_callback(stop_task, task)
    stack.push_async_callback(leases.give_up, f"runner:{runner}", runner)
    # Ready means what this replica can fix: a Microsoft outage must not take every replica
    # out of the load balancer (Teams would get gateway errors instead of BlockWatch's "the
    # tenant is not answering" card).
    checks = [database_check(engine), schema_check(engine)]
    return Runtime(
        router,
        exchange,
        graph,
        sim,
        endpoint,
        cases,
        audit,
        conversations,
        checks,
        engine,
        watcher,
        delivery,
        gate.foreign,
        bulk,
        wave_views,
    )


async def _start_tracing(stack: AsyncExitStack) -> None:
    """OpenTelemetry traces when the OTEL_* variables ask for them; flushed at the very end."""
    tracing.active = tracing.from_environment()
    if tracing.active is None:
        return

    async def stop() -> None:
        if tracing.active is not None:
            await tracing.active.shutdown()
        tracing.active = None

    stack.push_async_callback(stop)


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
