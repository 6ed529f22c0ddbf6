"""Graph: Microsoft Defender alerts (`alerts_v2`)."""

from __future__ import annotations

from datetime import datetime

from bot.core.m365 import SecurityAlert
from bot.tenant import parse
from bot.tenant.graph.api import GraphApi
from bot.tenant.graph.signins import iso

DEFENDER_FOR_OFFICE = "microsoftDefenderForOffice365"


class Alerts:
    """Defender for Office 365 alerts."""

    def __init__(self, api: GraphApi) -> None:
        self._api = api

    async def security_alerts(self, *, since: datetime) -> list[SecurityAlert]:
        """Defender for Office 365 alerts created since `since` (titles matched by callers)."""
        rows = await self._api.collect(
            f"/security/alerts_v2?$filter=serviceSource eq '{DEFENDER_FOR_OFFICE}' and "
            f"createdDateTime ge {iso(since)}",
            permission="SecurityAlert.Read.All",
        )
        return [parse.security_alert(r) for r in rows]
