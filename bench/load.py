"""A load generator in its own process: `--concurrency` admins each posting a message activity
as soon as the previous one was answered, for `--seconds`; prints one JSON line with the count,
throughput and latency percentiles.

    python -m bench.load --url http://127.0.0.1:3978/api/messages --service-url URL \\
        --concurrency 50 --seconds 10 --text "who is blocked"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp

from tests.helpers import activity


def _body(text: str, service_url: str, admin: int, tenant: str) -> dict[str, Any]:
    body = activity(
        text,
        service_url=service_url,
        user=f"29:admin-{admin}",
        aad=f"00000000-0000-0000-0000-{admin:012d}",
        tenant=tenant,
    )
    body["id"] = str(uuid.uuid4())
    body["conversation"]["id"] = f"a:personal-{admin}"  # each admin's own 1:1 chat with the bot
    return body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + args.seconds
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def admin(n: int) -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                body = _body(args.text, args.service_url, n + 1, args.tenant)
                started = time.perf_counter()
                async with session.post(args.url, json=body) as response:
                    await response.read()
                    if response.status >= 300:
                        failures += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(admin(n) for n in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "count": len(ordered),
        "failures": failures,
        "rps": len(ordered) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--text", default="who is blocked")
    parser.add_argument("--tenant", default="5f1b6a8e-3c2d-4e7f-9a10-2b3c4d5e6f70")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
