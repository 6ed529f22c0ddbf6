"""Demo mode: the simulated tenant (bot/sim) in place of a real one. The simulator is imported
here, lazily, and only when demo mode (or doctor in demo mode) runs."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.sim.server import SimulatedTenant

log = logging.getLogger(__name__)


async def start_tenant(
    scenario: str, stack: AsyncExitStack, *, tls: bool = False, now: datetime | None = None
) -> SimulatedTenant:
    """The simulated tenant of `scenario` as of `now`, listening on loopback until `stack`
    closes."""
    from bot.sim.server import SimulatedTenant
    from bot.sim.state import load_scenario

    sim = SimulatedTenant(load_scenario(scenario, now=now), tls=tls)
    await sim.start()
    stack.push_async_callback(sim.stop)
    return sim


async def doctor_settings(settings: Settings, stack: AsyncExitStack) -> Settings:
    """Settings that point at a simulated tenant over TLS with a client secret, so doctor in
    demo mode exercises the real msal token flow."""
    sim = await start_tenant(settings.demo_scenario, stack, tls=True)
    assert sim.ca_file is not None
    return settings.model_copy(
        update={
            "tenant_id": sim.tenant_id,
            "client_id": sim.client_id,
            "client_secret": SecretStr(sim.new_client_secret()),
            "authority_url": sim.authority_url,
            "graph_base_url": sim.graph_url,
            "exchange_base_url": sim.exchange_url,
            "ssl_cert_file": str(sim.ca_file),
            "managed_identity": None,
            "demo_forced": False,
        }
    )


def scenario_problems(settings: Settings) -> list[str]:
    """Why the demo cannot start with DEMO_SCENARIO, as one line (empty outside demo mode)."""
    if not settings.demo:
        return []
    from bot.sim.state import ScenarioError, load_scenario

    try:
        load_scenario(settings.demo_scenario)
    except ScenarioError as err:
        return [f"DEMO_SCENARIO: {err}"]
    return []


def start_afresh(database: Path) -> None:
    """Each demo run starts from its scenario: the previous run's database is removed (set
    DEMO_KEEP_STATE=true to keep it)."""
    suffixes = ("-wal", "-shm", ".started")
    for path in (database, *(database.with_name(database.name + s) for s in suffixes)):
        path.unlink(missing_ok=True)


def scenario_moment(database: Path | None) -> datetime:
    """The moment the scenario's times count back from. A kept demo database (DEMO_KEEP_STATE)
    keeps the moment it was started with, beside it, so a restart does not look like Exchange
    restricting everyone anew."""
    now = datetime.now(UTC)
    if database is None:
        return now
    marker = database.with_name(database.name + ".started")
    try:
        return datetime.fromisoformat(marker.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(now.isoformat(), encoding="utf-8")
        return now


async def restrict_later(sim: SimulatedTenant, after: float) -> None:
    """Demo: Exchange restricts one more user a while after start-up, so an alert arrives."""
    await asyncio.sleep(after)
    upn = sim.restrict_someone(sim.state.restrict_later)
    if upn is not None:
        log.info("demo: simulated tenant restricted a sender", extra={"upn": upn})
