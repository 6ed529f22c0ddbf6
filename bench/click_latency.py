"""Card-click answer time and memory: how fast a button press gets its card back.

    python -m bench.click_latency [--rounds 20]

Runs the simulated tenant and one bot as real processes (production configuration: msal over
TLS, SQLite), opens the compromised user's case, then presses buttons the way admins do:
refresh, open from the list, page the list, each checklist step and the same step again
(whose tenant call runs in the background: the click answers with "running…"). Each press is
timed from the POST to the invoke answer. Targets: every answer under 1 s (issue: "card clicks
answered in under a second"); the bot's peak memory (VmHWM) under 512 MB, half of a 1 GiB
container.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import bench_setup
from tests.helpers import actions_of, invoke

JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
ALEX = {"id": "29:alex", "name": "Alex", "aadObjectId": "00000000-0000-0000-0000-0000000000a1"}
TARGET_SECONDS = 1.0
TARGET_PEAK_MB = 512


class Clicker:
    """Presses buttons on one bot and records how long each answer took, per verb."""

    def __init__(self, client: httpx.AsyncClient, url: str, recorder_url: str) -> None:
        self.client, self.url, self.recorder_url = client, url, recorder_url
        self.timings: dict[str, list[float]] = {}

    async def press(self, verb: str, data: dict[str, Any], label: str = "") -> dict[str, Any]:
        body = invoke(verb, data, service_url=self.recorder_url)
        body["from"] = ALEX
        started = time.perf_counter()
        response = await self.client.post(f"{self.url}/api/messages", json=body)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        self.timings.setdefault(label or verb, []).append(elapsed)
        card: dict[str, Any] = response.json()["value"]
        return card


def _posted_card(recorder: Any) -> dict[str, Any]:
    """The card of the last message the bot posted to the connector."""
    for call in reversed(recorder.calls):
        if call.method == "POST" and call.body.get("attachments"):
            card: dict[str, Any] = call.body["attachments"][0]["content"]
            return card
    raise LookupError("no card was posted")


def _button(card: dict[str, Any], verb: str, step: str | None = None) -> dict[str, Any]:
    for action in actions_of(card):
        if action["verb"] == verb and (step is None or action["data"].get("step") == step):
            data: dict[str, Any] = action["data"]
            return data
    raise LookupError(f"no {verb} {step or ''} button")


async def measure(rounds: int) -> tuple[dict[str, list[float]], int]:
    """Timings per kind of click, and the bot's peak resident memory in kB."""
    async with bench_setup() as (recorder, procs, workdir):
        procs.start_tenant("compromised")
        url, proc = procs.start_bot(
            f"sqlite+aiosqlite:///{workdir}/bench.db",
            "bot",
            COMMANDS_PER_MINUTE="100000",
            ALERT_POLL_SECONDS="3600",
        )
        async with httpx.AsyncClient(timeout=30) as client:
            clicker = Clicker(client, url, recorder.url)
            await clicker.press("open_case", {"upn": JOOST}, "open_case (first)")
            # Open answers with the list; the case card is posted as a message of its own.
            case = _button(_posted_card(recorder), "refresh_case")
            for _ in range(200):  # the investigation runs in the background
                card = await clicker.press("refresh_case", case, "refresh_case (investigating)")
                if any(a["verb"] == "run_step" for a in actions_of(card)):
                    break
                await asyncio.sleep(0.1)
            for _ in range(rounds):
                card = await clicker.press("refresh_case", _button(card, "refresh_case"))
                await clicker.press("open_case", {"upn": JOOST}, "open_case (existing)")
                await clicker.press("list_page", {"page": 1})
            for step in ("revoke_sessions", "reset_password", "remove_forwarding", "disable_rules"):
                before = _button(card, "run_step", step)
                await clicker.press("run_step", before)
                # The same button again (a double click, a Teams retry): the current card,
                # no second tenant call.
                await clicker.press("run_step", before, "run_step (repeated)")
                await asyncio.sleep(1)  # the step itself runs in the background
                card = await clicker.press("refresh_case", _button(card, "refresh_case"))
        peak_kb = _peak_rss_kb(proc.pid)
        return clicker.timings, peak_kb


def _peak_rss_kb(pid: int) -> int:
    """VmHWM (peak resident set) from /proc, in kB (0 where /proc is not available)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    """Run the benchmark and print the result against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    timings, peak_kb = asyncio.run(measure(args.rounds))
    slowest = 0.0
    for label, values in timings.items():
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        slowest = max(slowest, ordered[-1])
        print(
            f"{label:32} n={len(values):3}  median {statistics.median(values) * 1000:6.1f} ms"
            f"  p95 {p95 * 1000:6.1f} ms  max {ordered[-1] * 1000:6.1f} ms"
        )
    clicks_ok = slowest < TARGET_SECONDS
    memory_ok = 0 < peak_kb / 1024 < TARGET_PEAK_MB
    print(
        f"slowest answer {slowest * 1000:.0f} ms (target < {TARGET_SECONDS * 1000:.0f} ms): "
        f"{'met' if clicks_ok else 'MISSED'}; peak memory {peak_kb / 1024:.0f} MB "
        f"(target < {TARGET_PEAK_MB} MB): {'met' if memory_ok else 'MISSED'}"
    )
    return 0 if clicks_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
