"""Graph: the message trace (what the user sent)."""

from __future__ import annotations

from datetime import datetime

from bot.core.m365 import SentMessage
from bot.tenant import parse
from bot.tenant.graph.api import GraphApi
from bot.tenant.graph.signins import iso


class Mail:
    """Exchange Online's message trace, through Graph."""

    def __init__(self, api: GraphApi) -> None:
        self._api = api

    async def sent_messages(self, upn: str, *, since: datetime) -> list[SentMessage]:
        """Messages the user sent since `since` (message trace, last 90 days at most)."""
        rows = await self._api.collect(
            f"/admin/exchange/tracing/messageTraces?$filter=senderAddress eq '{upn}' and "
            f"receivedDateTime ge {iso(since)}&$top=1000",
            permission="ExchangeMessageTrace.Read.All",
        )
        return [parse.sent_message(r) for r in rows]
