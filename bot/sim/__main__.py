"""Run the simulated tenant on its own: `python -m bot.sim --scenario compromised --tls`.

Prints one JSON line with the settings that point BlockWatch at it (BLOCKWATCH_TENANT_ID,
BLOCKWATCH_CLIENT_ID, BLOCKWATCH_CLIENT_SECRET, AUTHORITY_URL, GRAPH_BASE_URL,
EXCHANGE_BASE_URL, SSL_CERT_FILE; SIM_* for tests: its URL and managed-identity endpoint), so
several bot processes can share one tenant, or the production configuration can be tried locally.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import tempfile
from pathlib import Path

from bot.sim.server import SimulatedTenant
from bot.sim.state import load_scenario


async def serve(scenario: str, port: int, tls: bool, workdir: Path) -> None:
    """Serve until SIGTERM or SIGINT."""
    sim = SimulatedTenant(load_scenario(scenario), tls=tls, workdir=workdir)
    sim.state.app.secret = sim.state.app.secret or secrets.token_urlsafe(24)
    await sim.start(port=port)
    settings = {
        "BLOCKWATCH_TENANT_ID": sim.state.tenant_id,
        "BLOCKWATCH_CLIENT_ID": sim.state.app.client_id,
        "BLOCKWATCH_CLIENT_SECRET": sim.state.app.secret,
        "AUTHORITY_URL": sim.authority_url,
        "GRAPH_BASE_URL": sim.graph_url,
        "EXCHANGE_BASE_URL": sim.exchange_url,
        "SIM_URL": sim.base_url,
        # Where a managed identity would get its tokens (the App Service protocol msal speaks).
        "SIM_IDENTITY_ENDPOINT": sim.managed_identity_env["IDENTITY_ENDPOINT"],
        "SIM_IDENTITY_HEADER": sim.managed_identity_env["IDENTITY_HEADER"],
    }
    if sim.ca_file:
        settings["SSL_CERT_FILE"] = str(sim.ca_file)
    print(json.dumps(settings), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bot.sim", description=__doc__)
    parser.add_argument("--scenario", default="contoso")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (needed for msal)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blockwatch-sim-") as workdir:
        asyncio.run(serve(args.scenario, args.port, args.tls, Path(workdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
