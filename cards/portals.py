"""Links from a case card to the Microsoft portals where an admin checks or continues: the user
in the Microsoft Entra admin center, mailboxes in the Exchange admin center, and Microsoft
Defender's Restricted entities page, on the hosts of the tenant's cloud.

The cloud is read from GRAPH_BASE_URL (the setting sovereign clouds already change). Where a
portal's host in a cloud is not one we could confirm, the card shows no link rather than a
wrong one: 21Vianet gets the Azure portal's user page only.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote, urlsplit

from bot.i18n import Texts
from cards.common import Card


class Cloud(StrEnum):
    """Which Microsoft 365 cloud the tenant lives in."""

    PUBLIC = "public"  # commercial and GCC
    GCC_HIGH = "gcc_high"
    DOD = "dod"
    CHINA = "china"  # operated by 21Vianet


_GRAPH_HOSTS = {
    "graph.microsoft.us": Cloud.GCC_HIGH,
    "dod-graph.microsoft.us": Cloud.DOD,
    "microsoftgraph.chinacloudapi.cn": Cloud.CHINA,
}
_USER_BLADE = "#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/"
# Per cloud: (Entra admin center, Exchange admin center, Defender portal); "" = no link.
_HOSTS: dict[Cloud, tuple[str, str, str]] = {
    Cloud.PUBLIC: (
        "https://entra.microsoft.com",
        "https://admin.exchange.microsoft.com",
        "https://security.microsoft.com",
    ),
    Cloud.GCC_HIGH: (
        "https://entra.microsoft.us",
        "https://admin.exchange.office365.us",
        "https://security.microsoft.us",
    ),
    Cloud.DOD: (
        "https://entra.microsoft.us",
        "https://admin.exchange.apps.mil",
        "https://security.apps.mil",
    ),
    Cloud.CHINA: ("https://portal.azure.cn", "", ""),
}


def cloud_of(graph_base_url: str) -> Cloud:
    """The cloud whose Microsoft Graph is at `graph_base_url` (anything else: public)."""
    host = (urlsplit(graph_base_url).hostname or "").lower()
    return _GRAPH_HOSTS.get(host, Cloud.PUBLIC)


def portal_links(cloud: Cloud, user_id: str | None, t: Texts) -> list[Card]:
    """`Action.OpenUrl` buttons to the user in Entra, the mailboxes in Exchange and the
    Restricted entities page in Defender, for `cloud`."""
    entra, exchange, defender = _HOSTS[cloud]
    links: list[tuple[str, str]] = []
    if user_id:
        links.append(("portal.entra", f"{entra}/{_USER_BLADE}{quote(user_id, safe='')}"))
    if exchange:
        links.append(("portal.exchange", f"{exchange}/#/mailboxes"))
    if defender:
        links.append(("portal.defender", f"{defender}/restrictedentities"))
    return [
        {"type": "Action.OpenUrl", "title": t(key), "tooltip": t(key + ".tip"), "url": url}
        for key, url in links
    ]
