"""`/metrics` after a short flow: every series an operator watches is there, and those the flow
touched have moved."""

from __future__ import annotations

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
