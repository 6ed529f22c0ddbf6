"""The command line's work besides serving: `migrate`, `export-audit` and `doctor` (app.py
parses the arguments and prints)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import demo
from bot.alerts.watcher import WatcherHealth
from bot.compose import clients, http_client, msal_access
from bot.doctor import Finding, Status, containment_findings, healthy, render, run_doctor
from bot.settings import Settings
from bot.store.audit import AuditTrail, to_csv
from bot.store.db import current_revision, migrate, open_engine
from bot.store.watched import WatchedSenders


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
    watcher, switched = await watcher_finding(settings)
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
        findings += await containment_findings(
            graph,
            mode=switched or settings.auto_contain,
            switched=switched is not None,
            exclude_ids=settings.auto_contain_exclude_id_set,
            exclude_groups=settings.auto_contain_exclude_group_set,
        )
        return f"{checked}\n\n{render(findings)}", healthy(findings)


async def watcher_finding(settings: Settings) -> tuple[Finding, str | None]:
    """Whether the deployment's alert watcher is polling, from the database every replica
    shares (a database doctor cannot read says so: it is not taken for 'fine'); and the
    containment policy's mode as last switched from Teams (None: never)."""
    name = "Alert watcher (restricted list)"
    sqlite_file = settings.database.removeprefix("sqlite+aiosqlite:///")
    if sqlite_file != settings.database and not await asyncio.to_thread(Path(sqlite_file).is_file):
        return Finding(name, True, Status.OK, "BlockWatch has not run here yet (no database)"), None
    engine = open_engine(settings.database)
    try:
        if await current_revision(engine) is None:
            return Finding(name, True, Status.OK, "BlockWatch has not run here yet"), None
        last = await WatchedSenders(engine).last_poll()
        switched = await WatchedSenders(engine).containment_mode()
    except Exception as err:  # doctor reports what it could not read instead of failing
        said = f"cannot read the database: {type(err).__name__}"
        return Finding(name, False, Status.FAILED, said), None
    finally:
        await engine.dispose()
    health = WatcherHealth.of(last, datetime.now(UTC), settings.alert_poll_seconds)
    status = Status.STALLED if health.stalled else Status.OK
    return Finding(name, True, status, health.describe(settings.alert_poll_seconds)), switched
