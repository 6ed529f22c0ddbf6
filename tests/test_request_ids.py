"""Every call to Microsoft carries a client-request-id, and a failing call's log line carries
Microsoft's request ids, so Microsoft support can trace it."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from bot.logs import JsonFormatter
from bot.sim.faults import Fault
from tests.helpers import Recorder, activity, texts_of


async def test_a_failing_call_is_logged_with_microsofts_request_ids(
    start_bot: Any, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(LIST_FRESH_SECONDS="0")
    bot.sim.faults.add("Get-BlockedSenderAddress", Fault("unavailable", times=1))
    bot.sim.faults.add("users.get", Fault("unavailable", times=1))
    with caplog.at_level(logging.WARNING, logger="bot.tenant.request_ids"):
        await bot.post(activity("who is blocked", service_url=recorder.url))
    assert texts_of(recorder.cards()[-1])[0].startswith("Restricted senders")  # retried, fine
    failed = [r for r in caplog.records if r.getMessage() == "tenant call failed"]
    assert failed, "the 503 was not logged"
    record: Any = failed[0]
    assert record.status == 503
    assert record.path.endswith("/InvokeCommand")
    assert "?" not in record.path  # no query: it can hold a user's address
    uuid.UUID(record.upstream_request_id)  # Microsoft's id for the call
    uuid.UUID(record.upstream_client_request_id)  # ours, sent and echoed back


async def test_every_call_sends_its_own_client_request_id(start_bot: Any) -> None:
    bot = await start_bot()
    seen: list[str] = []

    async def capture(request: Any) -> None:
        seen.append(request.headers["client-request-id"])

    http = bot.runtime.graph.api._http  # the shared client the bot calls Microsoft with
    http.event_hooks["request"].append(capture)
    await bot.runtime.exchange.restricted_senders()
    await bot.runtime.graph.users.user("megan.bowen@contoso.onmicrosoft.com")
    assert len(seen) == 2
    assert len(set(seen)) == 2
    for value in seen:
        uuid.UUID(value)


async def test_one_access_log_line_per_request_with_the_correlation_id(
    start_bot: Any, recorder: Recorder
) -> None:
    lines: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    web_log = logging.getLogger("bot.teams.web")
    keep, level = Keep(), web_log.level
    web_log.addHandler(keep)
    web_log.setLevel(logging.INFO)
    try:
        bot = await start_bot()
        body = activity("who is blocked", service_url=recorder.url)
        await bot.post(body)
        await bot.client.get("/healthz")
    finally:
        web_log.removeHandler(keep)
        web_log.setLevel(level)
    access = [line for line in lines if line["message"] == "request"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("POST", "/api/messages", 201),
        ("GET", "/healthz", 200),
    ]
    assert access[0]["correlation_id"] == body["id"]
    assert "correlation_id" not in access[1]  # no activity, no id
    assert all(a["duration_ms"] >= 0 for a in access)
