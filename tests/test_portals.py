"""Links from the case card to Microsoft's portals, on the right hosts for each cloud."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest

from bot.core.people import Role
from bot.i18n import Texts
from bot.settings import load_settings
from cards.case import render_case
from cards.portals import Cloud, cloud_of
from tests.gallery import NOW
from tests.gallery import case as _case
from tests.helpers import actions_of

# GRAPH_BASE_URL per cloud (docs/permissions.md) → the portal hosts a case card links to.
CLOUDS = {
    "https://graph.microsoft.com": (
        Cloud.PUBLIC,
        {"entra.microsoft.com", "admin.exchange.microsoft.com", "security.microsoft.com"},
    ),
    "https://graph.microsoft.us": (
        Cloud.GCC_HIGH,
        {"entra.microsoft.us", "admin.exchange.office365.us", "security.microsoft.us"},
    ),
    "https://dod-graph.microsoft.us": (
        Cloud.DOD,
        {"entra.microsoft.us", "admin.exchange.apps.mil", "security.apps.mil"},
    ),
    # 21Vianet: only the Azure portal's user page is a host we could confirm.
    "https://microsoftgraph.chinacloudapi.cn": (Cloud.CHINA, {"portal.azure.cn"}),
}


def _links(card: dict[str, object]) -> dict[str, str]:
    return {
        a["title"]: a["url"]
        for a in actions_of(card, any_kind=True)
        if a["type"] == "Action.OpenUrl" and "support" not in a["url"]
    }


@pytest.mark.parametrize("graph", sorted(CLOUDS))
def test_each_cloud_links_to_its_own_portals(graph: str) -> None:
    cloud, hosts = CLOUDS[graph]
    assert cloud_of(load_settings(GRAPH_BASE_URL=graph).graph_base_url) is cloud
    case = dataclasses.replace(_case(), user_id="5b0e6d1c-7a41-4c1e-9d7e-0a6f3b2c1d99")
    for role in Role:  # a link is no action: every view has them
        card = render_case(case, t=Texts("en"), now=NOW, role=role, cloud=cloud)
        links = _links(card)
        assert {urlsplit(u).hostname for u in links.values()} == hosts
    entra = next(u for t, u in links.items() if "Entra" in t)
    assert entra.endswith(f"/userId/{case.user_id}")
    if cloud is not Cloud.CHINA:
        assert any(u.endswith("/restrictedentities") for u in links.values())


def test_no_user_id_no_entra_link_and_dutch_titles() -> None:
    case = dataclasses.replace(_case(), user_id=None)
    links = _links(render_case(case, t=Texts("nl"), now=NOW, cloud=Cloud.PUBLIC))
    assert set(links) == {"Exchange", "Defender"}
    tips = [
        a["tooltip"]
        for a in actions_of(render_case(case, t=Texts("nl"), now=NOW), any_kind=True)
        if a["type"] == "Action.OpenUrl"
    ]
    assert tips == [
        "Postvakken in het Exchange-beheercentrum",
        "Beperkte entiteiten in Microsoft Defender",
    ]
