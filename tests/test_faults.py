"""Faults on a live replica (PostgreSQL through a proxy the test cuts): what admins are told
while the database does not answer, and what keeps working."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.cases.outcomes import StepName, StepStatus
from bot.sim.faults import Fault
from tests.dbproxy import DatabaseProxy, proxied
from tests.flow import JOOST, action, click, compromised_bot, open_joost
from tests.helpers import Recorder, activity, texts_of
from tests.replicas import create_database, drop_database, wait_for

pytestmark = pytest.mark.postgres
UNREACHABLE = "BlockWatch cannot reach its database right now; nothing was changed."


@pytest.fixture
async def database() -> AsyncIterator[DatabaseProxy]:
    url = await create_database()
    async with proxied(url) as proxy:
        yield proxy
    await drop_database(url)


def _watcher_age(metrics: str) -> float:
    found = re.search(r"^blockwatch_alert_watcher_last_poll_age_seconds (\S+)$", metrics, re.M)
    assert found is not None
    return float(found[1])


async def test_while_the_database_is_unreachable_clicks_say_so_and_the_watcher_ages(
    database: DatabaseProxy, start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, DATABASE_URL=database.url, ALERT_POLL_SECONDS="1")
    card = await open_joost(bot, recorder)
    refresh: dict[str, Any] = card["refresh"]["action"]["data"]
    await asyncio.sleep(1.5)  # a poll is recorded
    before = _watcher_age((await bot.client.get("/metrics")).text)

    database.cut()
    try:
        answer = await click(bot, recorder, "refresh_case", refresh)
        assert any(UNREACHABLE in line for line in texts_of(answer)), texts_of(answer)
        status = await bot.post(activity(f"status {JOOST}", service_url=recorder.url))
        assert status.status_code < 300
        said = texts_of(recorder.calls[-1].body["attachments"][0]["content"])
        assert any(UNREACHABLE in line for line in said), said
        await asyncio.sleep(3)  # the watcher publishes its health every poll
        during = _watcher_age((await bot.client.get("/metrics")).text)
        assert during >= before + 2, (before, during)
    finally:
        database.restore()

    answer = await click(bot, recorder, "refresh_case", refresh)
    assert not any(UNREACHABLE in line for line in texts_of(answer))
    assert any("Joost" in line for line in texts_of(answer))


async def test_a_step_whose_outcome_meets_a_dropped_database_records_it_when_it_is_back(
    database: DatabaseProxy, start_bot: Any, recorder: Recorder
) -> None:
    """The database connection drops while a step is in the tenant and stays away as the step
    records its outcome: the live replica keeps the outcome and records it (and its audit
    event) once the database answers; the step is not run twice and not "interrupted"."""
    bot = await compromised_bot(start_bot, DATABASE_URL=database.url)
    card = await open_joost(bot, recorder)
    bot.sim.faults.add("users.revokeSignInSessions", Fault("latency", seconds=1.5))
    step = action(card, "run_step", "revoke_sessions")
    answer = await click(bot, recorder, "run_step", step)
    assert any("running" in line for line in texts_of(answer))
    await asyncio.sleep(0.5)
    database.cut()  # Microsoft answers in a second; the database is gone by then
    await asyncio.sleep(3)
    database.restore()
    case_id = step["case"]

    async def recorded() -> Any:
        case = await bot.runtime.cases.get(case_id)
        done = case is not None and case.step(StepName.REVOKE_SESSIONS).status is StepStatus.DONE
        return case if done else None

    await wait_for(recorded, seconds=20)
    events = await bot.runtime.audit.events(case_id=case_id)
    finished = [e for e in events if e.action == "step_finished:revoke_sessions"]
    assert [(e.actor_name, e.result) for e in finished] == [("Alex", "done")]
    log = bot.sim.context.log
    revokes = [r for r in log if "revokeSignInSessions" in r.path]
    assert len(revokes) == 1
