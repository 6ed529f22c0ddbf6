"""The simulated Graph users endpoints and `$batch`, and the Graph client over them."""

from __future__ import annotations

import httpx
import pytest

from bot.errors import TenantNotFound
from bot.sim.faults import Fault
from bot.sim.server import SimulatedTenant
from bot.sim.state import add_generated
from bot.tenant.graph import GraphClient
from tests.conftest import bearer, graph_client


def _client(sim: SimulatedTenant, http: httpx.AsyncClient) -> GraphClient:
    return graph_client(sim, http)


async def test_user_by_upn_and_by_id(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    client = _client(sim, http)
    by_upn = await client.users.user("li.lei@contoso.onmicrosoft.com")
    assert by_upn.display_name == "李雷 (Li Lei)"
    assert (await client.users.user(by_upn.id)).upn == "li.lei@contoso.onmicrosoft.com"
    with pytest.raises(TenantNotFound, match="does not exist"):
        await client.users.user("ghost@contoso.onmicrosoft.com")


async def test_users_are_paged_with_nextlink(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    headers = await bearer(sim, "graph")
    url: str | None = f"{sim.graph_url}/v1.0/users?$top=5&$select=id,displayName"
    names: list[str] = []
    pages = 0
    while url:
        body = (await http.get(url, headers=headers)).json()
        names += [u["displayName"] for u in body["value"]]
        assert set(body["value"][0]) == {"id", "displayName"}
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 3
    assert len(names) == 13


async def test_batch_lookup_spans_several_batches_and_skips_unknown_users(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    upns = [u.upn for u in sim.state.users] * 2 + ["ghost@contoso.onmicrosoft.com"]
    for i in range(30):
        upns.append(f"nobody{i}@contoso.onmicrosoft.com")
    found = await _client(sim, http).users.users_by_upn(upns)
    assert len(found) == 13
    assert found["zoe.angstrom@contoso.onmicrosoft.com"].display_name == "Zoë Ångström-Núñez"
    batches = [r for r in sim.requests if r.operation == "POST /$batch"]
    assert len(batches) == 3  # 44 distinct UPNs, 20 per batch


async def test_batch_over_20_is_refused_by_the_service(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/users/x"} for i in range(21)]
    response = await http.post(
        f"{sim.graph_url}/v1.0/$batch",
        json={"requests": requests},
        headers=await bearer(sim, "graph"),
    )
    assert response.status_code == 400
    assert "exceeds 20" in response.json()["error"]["message"]
    with pytest.raises(ValueError, match="at most 20"):
        await _client(sim, http).api.batch(requests)


async def test_graph_requires_a_token(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{sim.graph_url}/v1.0/users")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_group_ids_are_transitive_and_empty_for_unknown_users(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    client = _client(sim, http)
    alex = await client.users.user("alex.wilber@contoso.onmicrosoft.com")
    assert await client.users.group_ids(alex.id) == {
        "5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d02",  # Responders, through Service Desk Tier 2
        "5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d03",
        "5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d04",
    }
    assert await client.users.group_ids("00000000-0000-0000-0000-00000000dead") == set()
    headers = await bearer(sim, "graph")
    url = f"{sim.graph_url}/v1.0/users/{alex.id}/transitiveMemberOf?$select=id"
    row = (await http.get(url, headers=headers)).json()["value"][0]
    assert set(row) == {"@odata.type", "id"}
    assert row["@odata.type"] == "#microsoft.graph.group"


async def test_many_users_are_read_in_concurrent_batches_in_order(
    sim: SimulatedTenant,
) -> None:
    add_generated(sim.state, 130, now=sim.state.blocks[0].created)  # 130 users: 7 batches
    sim.faults.add("users.get", Fault("latency", times=-1, seconds=0.002))
    in_flight = peak = 0

    async def sent(request: httpx.Request) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    async def answered(response: httpx.Response) -> None:
        nonlocal in_flight
        in_flight -= 1

    hooks = {"request": [sent], "response": [answered]}
    async with httpx.AsyncClient(event_hooks=hooks) as http:
        upns = [u.upn for u in sim.state.users if u.upn.startswith("user")]
        found = await _client(sim, http).users.users_by_upn(upns)
    assert list(found) == [u.lower() for u in upns]  # every user, in the order asked
    assert peak == 4  # BATCH_CONCURRENCY batches at once, never more
