"""`/metrics` after a short flow: every series an operator watches is there, and those the flow
touched have moved."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.sim.faults import Fault
from tests.flow import JOOST, action, click, compromised_bot, open_joost
from tests.helpers import Recorder


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[Any, float], metric: str, **labels: str) -> float:
    """The sum of `metric` over the samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == metric and wanted <= ls)


async def test_metrics_after_a_short_flow(start_bot: Any, recorder: Recorder) -> None:
    bot = await compromised_bot(start_bot)
    bot.sim.faults.add("Get-BlockedSenderAddress", Fault("throttle", retry_after="0"))
    before = _samples((await bot.client.get("/metrics")).text)
    await bot.runtime.watcher.poll_once()  # a throttled read, tried again
    card = await open_joost(bot, recorder)
    await click(bot, recorder, "run_step", action(card, "run_step", "revoke_sessions"))
    await bot.runtime.cases.idle()
    await bot.runtime.cases.upkeep()
    scraped = await bot.client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    after = _samples(scraped.text)

    def moved(metric: str, **labels: str) -> float:
        return _value(after, metric, **labels) - _value(before, metric, **labels)

    assert moved("blockwatch_http_requests_total", route="/api/messages", status="200") >= 2
    assert moved("blockwatch_activities_total", type="invoke", status="200") >= 2
    clicks = {"kind": "click"}
    assert moved("blockwatch_turn_seconds_count", **clicks, name="open_case") == 1
    assert moved("blockwatch_turn_seconds_count", **clicks, name="run_step") == 1
    assert moved("blockwatch_upstream_calls_total", service="exchange", status="200") > 0
    assert moved("blockwatch_upstream_calls_total", service="graph", status="200") > 0
    assert moved("blockwatch_upstream_calls_total", service="exchange", status="429") == 1
    throttled = {"operation": "Get-BlockedSenderAddress", "status": "429"}
    assert moved("blockwatch_upstream_calls_total", service="exchange", **throttled) == 1
    revoke = "v1.0/users/{id}/revokeSignInSessions"  # the user's id is not in the label
    assert moved("blockwatch_upstream_calls_total", operation=revoke, status="200") == 1
    assert moved("blockwatch_upstream_calls_total", operation="v1.0/$batch") >= 1
    operations = {dict(ls).get("operation") for n, ls in after if n.startswith("blockwatch_up")}
    assert "Get-InboxRule" in operations
    assert all(op is None or ("@" not in op and len(op) <= 80) for op in operations)
    assert moved("blockwatch_upstream_retries_total", service="Exchange Online") >= 1
    assert moved("blockwatch_step_outcomes_total", step="revoke_sessions", outcome="done") == 1
    assert _value(after, "blockwatch_cases", state="remediating") == 1
    assert 0 <= _value(after, "blockwatch_alert_poll_age_seconds") < 60
    for name in (
        "blockwatch_token_failures_total",
        "blockwatch_signing_key_failures_total",
        "blockwatch_alert_queue_depth",
    ):
        assert any(n == name for n, _ in after), name
    assert any(n == "blockwatch_investigations" for n, _ in after)
    assert not [n for n, ls in after if any("@" in v for _, v in ls)]  # no address in a label
    assert JOOST not in scraped.text


async def test_a_stalled_alert_watcher_shows_in_metrics_on_every_replica_and_in_doctor(
    start_bot: Any, tmp_path: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.commands import watcher_finding
    from bot.doctor import Status
    from bot.settings import load_settings
    from bot.store.watched import WatchedSenders

    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    quiet = {"ALERT_POLL_SECONDS": "60", "DEMO_RESTRICT_AFTER_SECONDS": "0"}
    settings = load_settings(DATABASE_URL=database, **quiet)
    before, _ = await watcher_finding(settings)
    assert (before.status, before.detail) == (
        Status.OK,
        "BlockWatch has not run here yet (no database)",
    )
    bot = await start_bot(DATABASE_URL=database, **quiet)
    watcher = bot.runtime.watcher
    deadline = time.monotonic() + 20
    while await WatchedSenders(bot.runtime.engine).last_poll() is None:  # the loop's first
        assert time.monotonic() < deadline  # poll, so it cannot land after the stale one below
        await asyncio.sleep(0.05)
    await watcher.poll_once()
    health = await watcher.health()
    assert health.age_seconds is not None
    assert health.age_seconds < 5
    assert not health.stalled
    polling, _ = await watcher_finding(settings)
    assert polling.status is Status.OK
    assert polling.detail.startswith("last read the restricted")
    # The poller stops polling (Exchange down, a wedged replica): three periods later ...
    await WatchedSenders(bot.runtime.engine).record_poll(datetime.now(UTC) - timedelta(hours=1))
    await watcher._publish_health()  # each replica's watcher loop does this every period
    after = _samples((await bot.client.get("/metrics")).text)
    assert _value(after, "blockwatch_alert_watcher_stalled") == 1
    assert _value(after, "blockwatch_alert_watcher_last_poll_age_seconds") >= 3600
    stalled, _ = await watcher_finding(settings)
    assert stalled.status is Status.STALLED
    assert stalled.required
    assert "expected every 60 s: no alerts are arriving" in stalled.detail
    await watcher.poll_once()
    await watcher._publish_health()
    again = _samples((await bot.client.get("/metrics")).text)
    assert _value(again, "blockwatch_alert_watcher_stalled") == 0
