"""The one retry policy: Retry-After, backoff, deadlines, safe retries; measured at the tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bot.errors import (
    DeadlineExceeded,
    NotAvailableInTenant,
    TenantRequestFailed,
    TenantThrottled,
    TenantUnavailable,
)
from bot.sim.faults import Fault
from bot.sim.server import SimulatedTenant
from bot.tenant.http import RetryPolicy, retry_after_seconds
from tests.conftest import exchange_client, graph_client

JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, deadline=10)


def _times(sim: SimulatedTenant, operation: str) -> list[tuple[float, int]]:
    return [(r.at, r.status) for r in sim.requests if r.operation == operation]


async def test_retry_after_seconds_is_honoured(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Get-BlockedSenderAddress", Fault("throttle", retry_after="1"))
    senders = await exchange_client(sim, http, policy=FAST).restricted_senders()
    assert len(senders) == 3
    (first, s1), (second, s2) = _times(sim, "Get-BlockedSenderAddress")
    assert (s1, s2) == (429, 200)
    assert second - first >= 1.0


async def test_retry_after_http_date_is_honoured(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    sim.faults.add("Get-BlockedSenderAddress", Fault("unavailable", retry_after=when))
    await exchange_client(sim, http, policy=FAST).restricted_senders()
    (first, s1), (second, s2) = _times(sim, "Get-BlockedSenderAddress")
    assert (s1, s2) == (503, 200)
    assert second - first >= 0.9  # HTTP dates have whole-second precision


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 26 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Thu, 26 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


async def test_503_without_hint_backs_off_and_recovers(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Get-BlockedSenderAddress", Fault("unavailable", times=2))
    assert len(await exchange_client(sim, http, policy=FAST).restricted_senders()) == 3
    assert [s for _, s in _times(sim, "Get-BlockedSenderAddress")] == [503, 503, 200]


async def test_persistent_throttling_gives_up_with_throttled(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Get-BlockedSenderAddress", Fault("throttle", times=-1, retry_after="0"))
    with pytest.raises(TenantThrottled):
        await exchange_client(sim, http, policy=FAST).restricted_senders()
    assert len(_times(sim, "Get-BlockedSenderAddress")) == FAST.attempts


async def test_deadline_exceeded_on_a_hanging_call(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Get-BlockedSenderAddress", Fault("hang", seconds=5))
    policy = RetryPolicy(attempts=3, base_delay=0.01, deadline=0.5)
    with pytest.raises(DeadlineExceeded):
        await exchange_client(sim, http, policy=policy).restricted_senders()


async def test_deadline_stops_a_retry_that_would_wait_too_long(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Get-BlockedSenderAddress", Fault("throttle", retry_after="120"))
    with pytest.raises(DeadlineExceeded, match="deadline"):
        await exchange_client(sim, http, policy=FAST).restricted_senders()
    assert len(_times(sim, "Get-BlockedSenderAddress")) == 1


async def test_release_is_not_repeated_after_a_503(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Remove-BlockedSenderAddress", Fault("unavailable"))
    with pytest.raises(TenantUnavailable):
        await exchange_client(sim, http, policy=FAST).release_sender(JOOST)
    assert len(_times(sim, "Remove-BlockedSenderAddress")) == 1


async def test_release_is_retried_after_a_429(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("Remove-BlockedSenderAddress", Fault("throttle", retry_after="0"))
    await exchange_client(sim, http, policy=FAST).release_sender(JOOST)
    assert [s for _, s in _times(sim, "Remove-BlockedSenderAddress")] == [429, 200]
    assert sim.state.removed == [JOOST]


async def test_429_inside_a_200_batch_is_retried_for_that_request(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("users.get", Fault("throttle", retry_after="1"))
    upns = [u.upn for u in sim.state.users[:5]]
    found = await graph_client(sim, http, policy=FAST).users.users_by_upn(upns)
    assert sorted(found) == sorted(upns)
    batches = _times(sim, "POST /$batch")
    assert [s for _, s in batches] == [200, 200]
    assert batches[1][0] - batches[0][0] >= 1.0


async def test_a_refused_release_carries_microsofts_words_whatever_they_are(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    # The unblock limit's text is not public: no guessed words decide anything. Whatever Exchange
    # says is a refusal that carries its words (the case card quotes them).
    sim.state.unblock_limit.add(JOOST)
    sim.state.unblock_limit_message = "Quota de déblocage atteinte pour {sender} (code 7781)."
    with pytest.raises(TenantRequestFailed) as refused:
        await exchange_client(sim, http, policy=FAST).release_sender(JOOST)
    assert refused.value.said == f"Quota de déblocage atteinte pour {JOOST} (code 7781)."
    assert sim.state.block(JOOST) is not None


async def test_injected_licence_fault_reads_as_not_available(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.faults.add("riskyUsers.get", Fault("licence"))
    user = sim.state.user(JOOST)
    assert user is not None
    with pytest.raises(NotAvailableInTenant):
        await graph_client(sim, http, policy=FAST).signins.risky_user(user.id)


async def test_unreachable_tenant_is_unavailable(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    client = exchange_client(sim, http, policy=FAST)
    await sim.stop()
    with pytest.raises(TenantUnavailable, match="could not be reached"):
        await client.restricted_senders()


async def test_faults_can_be_queued_over_http(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    queued = await http.post(
        f"{sim.base_url}/_sim/faults",
        json={"route": "Get-BlockedSenderAddress", "kind": "unavailable"},
    )
    assert queued.status_code == 200
    bad = await http.post(f"{sim.base_url}/_sim/faults", json={"route": "x", "kind": "boom"})
    assert bad.status_code == 400
    await exchange_client(sim, http, policy=FAST).restricted_senders()
    assert [s for _, s in _times(sim, "Get-BlockedSenderAddress")] == [503, 200]
    log = (await http.get(f"{sim.base_url}/_sim/requests")).json()
    assert [e["status"] for e in log] == [503, 200]
    assert (await http.delete(f"{sim.base_url}/_sim/faults")).json() == {"cleared": True}
