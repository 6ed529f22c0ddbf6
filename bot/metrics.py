"""What an operator watches, at `GET /metrics` in the Prometheus text format.

One registry for the process. Counters and histograms are bumped where things happen; gauges
that describe a part's state (investigations, the alert queue, cases by state, the last alert
poll) are set by that part. Labels are bounded: routes, activity types, command and verb names,
services, status codes, step names and outcomes; never a user, a UPN or an id.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "blockwatch_http_requests",
    "Requests to BlockWatch by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
ACTIVITIES = Counter(
    "blockwatch_activities",
    "Bot Framework activities by type and the HTTP status answered.",
    ["type", "status"],
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "blockwatch_turn_seconds",
    "Time to answer a command or a card click.",
    ["kind", "name"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
UPSTREAM_CALLS = Counter(
    "blockwatch_upstream_calls",
    "Calls to Microsoft by service, operation (Exchange cmdlet, Graph route with {id} for ids, "
    "token), method and HTTP status.",
    ["service", "operation", "method", "status"],
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "blockwatch_upstream_retries",
    "Calls to Microsoft tried again (throttled, 5xx, transport).",
    ["service"],
    registry=REGISTRY,
)
TOKEN_FAILURES = Counter(
    "blockwatch_token_failures",
    "Failed token requests for Graph or Exchange.",
    registry=REGISTRY,
)
SIGNING_KEY_FAILURES = Counter(
    "blockwatch_signing_key_failures",
    "Failed fetches of the Bot Framework signing keys.",
    registry=REGISTRY,
)
ALERT_DELIVERIES = Counter(
    "blockwatch_alert_deliveries",
    "Alert and digest cards by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
ALERT_QUEUE = Gauge(
    "blockwatch_alert_queue_depth", "Alerts queued and not yet delivered.", registry=REGISTRY
)
LAST_ALERT_POLL = Gauge(
    "blockwatch_alert_poll_last_success_timestamp_seconds",
    "When this replica last read the restricted list for alerts (0: never).",
    registry=REGISTRY,
)
CASES = Gauge("blockwatch_cases", "Open cases by state.", ["state"], registry=REGISTRY)
STEP_OUTCOMES = Counter(
    "blockwatch_step_outcomes",
    "Checklist steps that ended, by step and outcome.",
    ["step", "outcome"],
    registry=REGISTRY,
)
INVESTIGATIONS = Gauge(
    "blockwatch_investigations",
    "Investigations in this replica: running or waiting a turn.",
    ["phase"],
    registry=REGISTRY,
)
_SECONDS_SINCE = Gauge(
    "blockwatch_alert_poll_age_seconds",
    "Seconds since this replica last read the restricted list for alerts (-1: never).",
    registry=REGISTRY,
)
_last_poll = [0.0]
_SECONDS_SINCE.set_function(lambda: time.time() - _last_poll[0] if _last_poll[0] else -1.0)


WATCHER_AGE = Gauge(
    "blockwatch_alert_watcher_last_poll_age_seconds",
    "Seconds since any replica last read the restricted list for alerts (-1: never).",
    registry=REGISTRY,
)
WATCHER_STALLED = Gauge(
    "blockwatch_alert_watcher_stalled",
    "1 when no replica has read the restricted list for three poll periods.",
    registry=REGISTRY,
)


CONTAINMENT_MODE = Gauge(
    "blockwatch_auto_contain_mode",
    "The automatic containment policy's mode (1 for the mode in force: off, dry-run, on).",
    ["mode"],
    registry=REGISTRY,
)
CONTAINMENT_DECISIONS = Counter(
    "blockwatch_containment_decisions",
    "Decisions of the automatic containment policy by result (contain, would_contain, weak, "
    "unread, excluded_user, excluded_group, groups_unread).",
    ["result"],
    registry=REGISTRY,
)


WAVE_FLOOR = Gauge(
    "blockwatch_wave_floor_seconds",
    "The least time Microsoft's budgets allow for investigating the latest wave's cases.",
    registry=REGISTRY,
)
WAVE_EXPECTED = Gauge(
    "blockwatch_wave_expected_finish_seconds",
    "Seconds until the latest wave's investigations are expected to be done (0: done).",
    registry=REGISTRY,
)


def wave(floor: float, expected: float) -> None:
    """Show the latest wave's budget floor and expected finish."""
    WAVE_FLOOR.set(floor)
    WAVE_EXPECTED.set(max(0.0, expected))


def containment_mode(mode: str) -> None:
    """Show the containment policy's mode in force."""
    for each in ("off", "dry-run", "on"):
        CONTAINMENT_MODE.labels(each).set(1 if each == mode else 0)


def watcher_health(age_seconds: float | None, *, stalled: bool) -> None:
    """The deployment's alert watcher, as this replica last read it from the database."""
    WATCHER_AGE.set(-1.0 if age_seconds is None else age_seconds)
    WATCHER_STALLED.set(1 if stalled else 0)


def alert_polled() -> None:
    """This replica read the restricted list for alerts just now."""
    _last_poll[0] = time.time()
    LAST_ALERT_POLL.set(_last_poll[0])


def render() -> bytes:
    """Everything, in the Prometheus text format."""
    return generate_latest(REGISTRY)
