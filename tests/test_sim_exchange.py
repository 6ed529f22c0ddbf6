"""The simulated Exchange endpoint's wire format, and the Exchange client following it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from bot.errors import TenantForbidden, TenantNotFound, TenantRequestFailed
from bot.sim.server import SimulatedTenant
from bot.sim.state import add_generated
from bot.tenant.auth import BearerAuth
from bot.tenant.exchange import ExchangeClient
from tests.conftest import bearer, exchange_client

BODY = {"CmdletInput": {"CmdletName": "Get-BlockedSenderAddress", "Parameters": {}}}


def _client(sim: SimulatedTenant, http: httpx.AsyncClient) -> ExchangeClient:
    return exchange_client(sim, http)


def _url(sim: SimulatedTenant) -> str:
    return f"{sim.exchange_url}/adminapi/beta/{sim.state.tenant_id}/InvokeCommand"


async def test_pages_follow_prefer_maxpagesize_and_nextlink_takes_same_body(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    add_generated(sim.state, 7, now=datetime.now(UTC))  # 3 + 7 = 10 entries
    headers = await bearer(sim, "exchange") | {"Prefer": "odata.maxpagesize=4"}
    first = (await http.post(_url(sim), json=BODY, headers=headers)).json()
    assert first["@odata.context"].endswith("$metadata#Collection(Exchange.GenericHashTable)")
    assert len(first["value"]) == 4
    assert first["value"][0]["SenderAddress"] == "joost.vandenbergh@contoso.onmicrosoft.com"
    assert set(first["value"][0]) >= {
        "SenderAddress",
        "Reason",
        "CreatedDatetime",
        "ChangedDatetime",
        "TemporaryBlock",
    }
    second = (await http.post(first["@odata.nextLink"], json=BODY, headers=headers)).json()
    third = (await http.post(second["@odata.nextLink"], json=BODY, headers=headers)).json()
    assert [len(p["value"]) for p in (first, second, third)] == [4, 4, 2]
    assert "@odata.nextLink" not in third


async def test_server_page_cap_applies_when_client_asks_for_more(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.state.page_size = 2
    headers = await bearer(sim, "exchange") | {"Prefer": "odata.maxpagesize=1000"}
    first = (await http.post(_url(sim), json=BODY, headers=headers)).json()
    assert len(first["value"]) == 2
    assert "$skiptoken=2" in first["@odata.nextLink"]


async def test_client_follows_every_page(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    sim.state.page_size = 7
    add_generated(sim.state, 22, now=datetime.now(UTC))
    senders = await _client(sim, http).restricted_senders()
    assert len(senders) == 25
    assert len({s.upn for s in senders}) == 25
    calls = [r for r in sim.requests if r.operation == "Get-BlockedSenderAddress"]
    assert len(calls) == 4
    joost = next(s for s in senders if s.upn.startswith("joost"))
    assert joost.reason.external_recipients == 1842
    assert joost.created is not None
    assert joost.temporary is False


async def test_filter_by_sender_address(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    client = _client(sim, http)
    found = await client.restricted_sender("ZOE.ANGSTROM@contoso.onmicrosoft.com")
    assert found is not None
    assert found.upn == "zoe.angstrom@contoso.onmicrosoft.com"
    assert await client.restricted_sender("megan.bowen@contoso.onmicrosoft.com") is None


async def test_release_changes_tenant_state(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    client = _client(sim, http)
    await client.release_sender("joost.vandenbergh@contoso.onmicrosoft.com")
    assert sim.state.block("joost.vandenbergh@contoso.onmicrosoft.com") is None
    assert sim.state.removed == ["joost.vandenbergh@contoso.onmicrosoft.com"]
    with pytest.raises(TenantNotFound, match="isn't on the blocked senders list"):
        await client.release_sender("joost.vandenbergh@contoso.onmicrosoft.com")


async def test_unknown_cmdlet_reads_as_missing_exchange_role(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    client = _client(sim, http)
    with pytest.raises(TenantForbidden) as caught:
        await client.invoke("Get-Everything")
    assert caught.value.permission == "an Exchange role that includes Get-Everything"
    with pytest.raises(TenantRequestFailed, match="missing mandatory parameters: SenderAddress"):
        await client.invoke("Remove-BlockedSenderAddress", safe=False)


class _StolenToken:
    """A provider whose token the tenant never issued."""

    refreshed = 0

    async def token(self, resource: str) -> str:
        return "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.forged"

    def invalidate(self, resource: str) -> None:
        self.refreshed += 1


async def test_wrong_token_is_forbidden_after_one_refresh(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    stolen = _StolenToken()
    client = ExchangeClient(
        http,
        base_url=sim.exchange_url,
        tenant_id=sim.state.tenant_id,
        auth=BearerAuth(stolen, sim.exchange_url),
    )
    with pytest.raises(TenantForbidden) as caught:
        await client.restricted_senders()
    assert "Exchange.ManageAsApp" in caught.value.permission
    assert [r.status for r in sim.requests] == [401, 401]  # then one retry with a fresh token
    assert stolen.refreshed == 1


async def test_raw_error_body_has_exchange_shape(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    bad = {
        "CmdletInput": {
            "CmdletName": "Remove-BlockedSenderAddress",
            "Parameters": {"SenderAddress": "nobody@contoso.onmicrosoft.com"},
        }
    }
    response = await http.post(_url(sim), json=bad, headers=await bearer(sim, "exchange"))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "NotFound"
    assert error["message"] == "Error executing cmdlet"  # the useful words are in the details
    assert error["details"][0]["message"].startswith(
        "|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
    )
    assert "isn't on the blocked senders list" in error["details"][0]["message"]
    assert (
        "isn't on the blocked senders list" in error["innererror"]["internalexception"]["message"]
    )
