"""Microsoft Graph v1.0, app-only: one client per area, all over one `GraphApi` request path.

users     directory users and groups; password reset, session revoke, sign-in block
access    directory roles and OAuth consent grants
signins   sign-in methods, risky-user state, sign-in and directory audit logs
mail      the message trace
alerts    Defender alerts (alerts_v2)
"""

from __future__ import annotations

import httpx

from bot.tenant.budgets import Budgets
from bot.tenant.graph.access import Access
from bot.tenant.graph.alerts import Alerts
from bot.tenant.graph.api import GraphApi
from bot.tenant.graph.mail import Mail
from bot.tenant.graph.signins import SignIns
from bot.tenant.graph.users import Users
from bot.tenant.http import RetryPolicy


class GraphClient:
    """Graph for one tenant, by area; given its `httpx.AsyncClient` and auth from outside."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        auth: httpx.Auth,
        policy: RetryPolicy | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.api = GraphApi(http, base_url=base_url, auth=auth, policy=policy, budgets=budgets)
        self.users = Users(self.api)
        self.access = Access(self.api)
        self.signins = SignIns(self.api)
        self.mail = Mail(self.api)
        self.alerts = Alerts(self.api)


__all__ = ["GraphApi", "GraphClient"]
