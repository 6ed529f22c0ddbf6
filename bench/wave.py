"""wave-30: thirty senders restricted in one poll, fifteen of them with strong evidence, and
AUTO_CONTAIN=on: the time until the fifteen are contained and until all thirty are
investigated (every section read: none waiting for its turn within Microsoft's budgets),
against the floor those budgets set (bot/cases/waves.py `floor_seconds`).

    python -m bench.wave [--accounts 30] [--poll 3]

Runs the simulated tenant (compromised plus generated wave accounts) and one bot as real
processes (production configuration: msal over TLS, SQLite), with Microsoft's budgets enforced
by the simulator; reports how many answers were 429 (target: none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bot.cases.model import Case, CaseState
from bot.cases.sections import NAMES
from bot.cases.waves import contained, floor_seconds
from bot.store.cases import CaseStore
from tests.helpers import ROOT

COMPROMISED = ROOT / "bot" / "sim" / "scenarios" / "compromised.json"


def _read(case: Case) -> bool:
    """Investigated, every section asked, none waiting to be read again."""
    evidence = case.evidence
    return (
        evidence is not None
        and case.state is not CaseState.INVESTIGATING
        and not evidence.unasked(NAMES)
        and not evidence.retryable
    )


def _upn(i: int) -> str:
    return f"wave{i:02d}@contoso.onmicrosoft.com"


async def measure(accounts: int, poll: float, limit: float = 20 * 60) -> dict[str, float]:
    """Seconds to all strong ones contained and to all investigated; the floor; 429s."""
    from bench.common import bench_setup
    from bot.store.db import open_engine

    async with bench_setup() as (_recorder, procs, workdir):
        data: dict[str, Any] = json.loads(COMPROMISED.read_text(encoding="utf-8"))
        data["generate_wave"] = accounts
        scenario = Path(workdir) / "wave.json"
        scenario.write_text(json.dumps(data), encoding="utf-8")
        procs.start_tenant(str(scenario))
        database = f"sqlite+aiosqlite:///{Path(workdir) / 'wave.db'}"
        procs.start_bot(
            database, "wave", ALERT_POLL_SECONDS=str(poll), AUTO_CONTAIN="on", LOG_LEVEL="WARNING"
        )
        sim = procs.tenant["SIM_URL"]
        engine = open_engine(database)
        store = CaseStore(engine)
        found: dict[str, float] = {"floor": floor_seconds(accounts)}
        try:
            await asyncio.sleep(poll + 1)  # the watcher's baseline
            async with procs.tenant_client() as tenant:
                started = time.monotonic()
                for i in range(accounts):
                    body = {"upn": _upn(i)}
                    (await tenant.post(f"{sim}/_sim/restrict", json=body)).raise_for_status()
                strong = {_upn(i) for i in range(0, accounts, 2)}
                deadline = started + limit
                while time.monotonic() < deadline:
                    cases = [await store.open_for(_upn(i)) for i in range(accounts)]
                    known = [c for c in cases if c is not None]
                    done = {c.upn for c in known if contained(c)}
                    if "contained" not in found and done >= strong:
                        found["contained"] = time.monotonic() - started
                    if (
                        "investigated" not in found
                        and len(known) == accounts
                        and all(_read(c) for c in known)
                    ):
                        found["investigated"] = time.monotonic() - started
                    if "investigated" in found and "contained" in found:
                        break
                    await asyncio.sleep(0.5)
                log = (await tenant.get(f"{sim}/_sim/requests")).json()
            found["throttled"] = float(sum(1 for r in log if r["status"] == 429))
        finally:
            await engine.dispose()
        return found


def main() -> int:
    """Run the benchmark and print the results against the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--poll", type=float, default=3.0)
    args = parser.parse_args()
    found = asyncio.run(measure(args.accounts, args.poll))
    print(json.dumps(found, indent=1))
    return 0 if "investigated" in found and found["throttled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
