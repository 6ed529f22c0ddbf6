"""large-2000: "who is blocked" with 2,000 restricted senders against 4, and memory with 2,000
senders and 250 open cases.

    python -m bench.scale [--senders 2000] [--cases 250] [--samples 15]

Runs the simulated tenant (contoso plus generated restricted senders) and one bot as real
processes (production configuration: msal over TLS, SQLite), once with 4 restricted senders and
once with `--senders`. "who is blocked" is asked as an admin asks it: the first answer reads
Exchange (every page) and names the senders through Graph; the others answer from the list
read in the last LIST_FRESH_SECONDS, as the alert watcher's poll keeps it. The median of the
later answers is compared (target: within 2x the 4-sender median). Then `--cases` open cases
are opened in the bot's database (the cases the watcher opens for new restrictions) and the
bot's memory (RSS) is read after its upkeep has read them all (target: < 250 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ROOT, activity

CONTOSO = ROOT / "bot" / "sim" / "scenarios" / "contoso.json"
BASE_RESTRICTED = 3  # contoso's own restricted senders


def _scenario(workdir: Path, senders: int) -> str:
    data: dict[str, Any] = json.loads(CONTOSO.read_text(encoding="utf-8"))
    data["generate_restricted"] = max(0, senders - BASE_RESTRICTED)
    path = workdir / f"scale-{senders}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _asked(url: str, connector: str, samples: int) -> tuple[float, list[float]]:
    """The first answer (read live) and the later ones, in seconds."""
    async with httpx.AsyncClient(timeout=120) as client:

        async def ask() -> float:
            started = time.perf_counter()
            body = activity("who is blocked", service_url=connector)
            (await client.post(f"{url}/api/messages", json=body)).raise_for_status()
            return time.perf_counter() - started

        first = await ask()
        return first, [await ask() for _ in range(samples)]


async def _open_cases(database: str, count: int) -> int:
    """Open `count` cases in the bot's database, as the watcher opens them for restrictions."""
    from bot.cases.ledger import SYSTEM
    from bot.cases.ports import AuditAction, Event
    from bot.core.m365 import RestrictedSender, parse_reason
    from bot.store.cases import CaseStore
    from bot.store.db import open_engine

    engine = open_engine(database)
    try:
        store = CaseStore(engine)
        opened = 0
        reason = parse_reason("ExceedingLimitType=External;ExternalRecipientCountToday=500")
        for n in range(count):
            upn = f"user{n:04d}@contoso.onmicrosoft.com"
            sender = RestrictedSender(upn, f"User {n}", reason, None, None, False, None)
            event = Event(AuditAction.CASE_OPENED, SYSTEM, "done")
            _case, created = await store.open_case(sender, event, at=_now())
            opened += created
        return opened
    finally:
        await engine.dispose()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def measure(senders: int, cases: int, samples: int) -> dict[str, float]:
    """Medians for 4 and `senders` restricted senders, and RSS with `cases` open cases."""
    from bench.common import bench_setup

    found: dict[str, float] = {}
    for count in (4, senders):
        async with bench_setup() as (recorder, procs, workdir):
            procs.start_tenant(_scenario(workdir, count))
            database = f"sqlite+aiosqlite:///{workdir / 'scale.db'}"
            url, proc = procs.start_bot(
                database, "scale", ALERT_POLL_SECONDS="3600", LOG_LEVEL="WARNING"
            )
            first, later = await _asked(url, recorder.url, samples)
            found[f"first {count}"] = first
            found[f"median {count}"] = statistics.median(later)
            if count == senders:
                found["opened"] = await _open_cases(database, min(cases, senders))
                await asyncio.sleep(12)  # an upkeep round reads every open case
                await _asked(url, recorder.url, 3)
                found["rss"] = _rss_mb(proc.pid)
    return found


def main() -> int:
    """Run the benchmark and print the results against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=250)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    found = asyncio.run(measure(args.senders, args.cases, args.samples))
    ratio = found[f"median {args.senders}"] / found["median 4"]
    print(json.dumps(found, indent=1))
    print(f"who is blocked, {args.senders} vs 4 senders: {ratio:.2f}x (target <= 2x)")
    return 0 if ratio <= 2 and found["rss"] < 250 else 1


if __name__ == "__main__":
    sys.exit(main())
