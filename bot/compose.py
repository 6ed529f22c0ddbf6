"""The composition root: builds the running service from Settings, once, in dependency order.

    tenant access → clients → store → Teams channel (adapter, outbox) → case views →
    case service → chat services → router → Teams endpoint → aiohttp app

Nothing is wired after construction: each part gets what it needs when it is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import demo, tracing
from bot.alerts.delivery import Delivery
from bot.alerts.watcher import AlertPolicy, Watcher, WatcherHealth
from bot.cases.background import Background
from bot.cases.checklist import Checklist
from bot.cases.investigator import Investigator
from bot.cases.ledger import CaseLedger
from bot.cases.ownership import Ownership
from bot.cases.ports import PrivateChannel, RunnerLeases
from bot.cases.release import Releases
from bot.cases.service import CasePolicy, CaseService
from bot.cases.tenant_ports import Tenant
from bot.chat.access import PLAYGROUND_TENANT, PLAYGROUND_USER, AccessPolicy, Roles, ids
from bot.chat.context import Services
from bot.chat.foreign import ForeignRefusals
from bot.chat.gate import Gate
from bot.chat.limits import CommandLimit
from bot.chat.pacing import PacedOutbox
from bot.chat.router import Router
from bot.chat.views import CaseViews
from bot.doctor import Finding, Status, healthy, render, run_doctor
from bot.settings import Credential, Settings
from bot.store.audit import AuditTrail, to_csv
from bot.store.budgets import SharedBudgets
from bot.store.cases import CaseStore
from bot.store.claims import CardClaims
from bot.store.conversations import ConversationStore
from bot.store.db import current_revision, head_revision, migrate, open_engine
from bot.store.leases import Leases
from bot.store.watched import WatchedSenders
from bot.teams.endpoint import TeamsChannel, TeamsEndpoint
from bot.teams.web import CHECKS, ENDPOINT, ReadinessCheck, build_web_app
from bot.tenant import request_ids
from bot.tenant.auth import BearerAuth, TokenProvider
from bot.tenant.budgets import Budgets
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.port import M365Tenant
from bot.tenant.senders import RestrictedSenders
from bot.tenant.tokens import ClientCredential, ManagedIdentityTokens, MsalTokens
from cards.portals import cloud_of

if TYPE_CHECKING:
    from bot.sim.server import SimulatedTenant

from bot.core.clock import Clock, utcnow

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
    http: httpx.AsyncClient, access: TenantAccess, budgets: Budgets | None = None
) -> tuple[ExchangeClient, GraphClient]:
    """The Exchange and Graph clients of a tenant (Graph within Microsoft's rate budgets)."""
    exchange = ExchangeClient(
        http,
        base_url=access.exchange_url,
        tenant_id=access.tenant_id,
        auth=BearerAuth(access.tokens, access.exchange_url),
    )
    graph = GraphClient(
        http,
        base_url=access.graph_url,
        auth=BearerAuth(access.tokens, access.graph_url),
        budgets=budgets,
    )
    return exchange, graph


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
    watcher = await _watcher_finding(settings)
    async with AsyncExitStack() as stack:
        checked = ""
        if settings.demo:
            checked = (
                f"Checked: the SIMULATED tenant of demo mode (scenario '{settings.demo_scenario}'"
                "), not a real one. Set the bot identity, or BLOCKWATCH_TENANT_ID, "
                "BLOCKWATCH_CLIENT_ID and a secret, certificate or managed identity, to check "
                "yours."
            )
            settings = await demo.doctor_settings(settings, stack)
        login = settings.tenant_login
        assert login is not None
        if not checked:
            checked = (
                f"Checked: tenant {login.tenant_id} as {login.describe()} "
                f"({settings.graph_base_url}, {settings.exchange_base_url})."
            )
        http = await stack.enter_async_context(http_client(settings))
        access = msal_access(settings, stack)
        exchange, graph = clients(http, access)
        findings = await run_doctor(
            graph,
            exchange,
            access.tokens,
            graph_resource=access.graph_url,
            exchange_resource=access.exchange_url,
        )
        findings.append(watcher)
        return f"{checked}\n\n{render(findings)}", healthy(findings)


async def _watcher_finding(settings: Settings) -> Finding:
    """Whether the deployment's alert watcher is polling, from the database every replica
    shares; a database doctor cannot read says so (it is not taken for 'fine')."""
    name = "Alert watcher (restricted list)"
    sqlite_file = settings.database.removeprefix("sqlite+aiosqlite:///")
    if sqlite_file != settings.database and not await asyncio.to_thread(Path(sqlite_file).is_file):
        return Finding(name, True, Status.OK, "BlockWatch has not run here yet (no database)")
    engine = open_engine(settings.database)
    try:
        if await current_revision(engine) is None:
            return Finding(name, True, Status.OK, "BlockWatch has not run here yet")
        last = await WatchedSenders(engine).last_poll()
    except Exception as err:  # doctor reports what it could not read instead of failing
        return Finding(
            name, False, Status.FAILED, f"cannot read the database: {type(err).__name__}"
        )
    finally:
        await engine.dispose()
    health = WatcherHealth.of(last, datetime.now(UTC), settings.alert_poll_seconds)
    status = Status.STALLED if health.stalled else Status.OK
    return Finding(name, True, status, health.describe(settings.alert_poll_seconds))


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
    )


def case_service(
    policy: CasePolicy,
    ledger: CaseLedger,
    tenant: Tenant,
    *,
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
        leases=leases,
        background=background,
        policy=policy,
        runner=runner,
    )


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
    exchange, graph = clients(http, access, SharedBudgets(engine))
    store, audit = CaseStore(engine), AuditTrail(engine)
    conversations, leases = ConversationStore(engine), Leases(engine)
    channel = TeamsChannel(settings, http)
    stack.push_async_callback(channel.aclose)
    if settings.inbound_auth:
        warming = asyncio.create_task(channel.keys.warm(), name="signing-keys")
        stack.push_async_callback(_stop, warming)
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
    cases = case_service(
        case_policy(settings),
        CaseLedger(store, audit, views, now),
        M365Tenant(exchange, graph),
        leases=leases,
        private=outbox,
        background=background,
        runner=runner,
    )
    senders = RestrictedSenders(exchange, graph, fresh_seconds=settings.list_fresh_seconds)
    services = Services(senders, cases, views, audit, conversations, settings.card_budget_bytes)
    gate = Gate(
        roles,
        CommandLimit(settings.commands_per_minute, 60.0),
        audit,
        conversations,
        auto_subscribe=settings.demo,
    )
    router = Router(services, gate, clock=now)
    endpoint = TeamsEndpoint(channel, router)
    delivery = Delivery(conversations, store, outbox, views)
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
    upkeep = _upkeep(cases, views, gate.foreign, settings, stopping)
    loops = (("upkeep", upkeep), ("watcher", watcher.run(stopping)))
    for name, work in loops:
        stack.push_async_callback(_stop, asyncio.create_task(work, name=name), stopping)
    if sim is not None and settings.demo_restrict_after_seconds:
        task = asyncio.create_task(demo.restrict_later(sim, settings.demo_restrict_after_seconds))
        stack.push_async_callback(_stop, task)
    stack.push_async_callback(leases.give_up, f"runner:{runner}", runner)
    # Ready means what this replica can fix: a Microsoft outage must not take every replica
    # out of the load balancer (Teams would get gateway errors instead of BlockWatch's "the
    # tenant is not answering" card).
    checks = [_database(engine), _schema(engine)]
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


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when shutdown begins."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


async def _upkeep(
    cases: CaseService,
    views: CaseViews,
    foreign: ForeignRefusals,
    settings: Settings,
    stopping: asyncio.Event,
) -> None:
    """Renew this process's lease, give dead runners' work its way out, catch up card copies,
    write the foreign-tenant tallies whose window ended, purge expired history; at the end,
    write every tally left."""
    last_purge = 0.0
    while not stopping.is_set():
        try:
            await cases.upkeep()
            await views.catch_up(datetime.now(UTC))
            await foreign.flush()
            if time.monotonic() - last_purge > 24 * 3600:
                last_purge = time.monotonic()
                cutoff = datetime.now(UTC) - timedelta(days=settings.audit_retention_days)
                closed, events = await cases.purge(cutoff)
                if closed or events:
                    log.info("retention purge", extra={"cases": closed, "events": events})
        except Exception:
            log.exception("upkeep failed; trying again")
        await pause(stopping, max(0.5, settings.runner_lease_seconds / 3))
    try:
        await foreign.flush(everything=True)
    except Exception:
        log.exception("could not write the foreign-tenant refusals at shutdown")


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


def _schema(engine: AsyncEngine) -> ReadinessCheck:
    async def probe() -> bool:
        return await current_revision(engine) == head_revision()

    return ReadinessCheck("migrations", probe)
