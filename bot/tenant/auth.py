"""Authentication for tenant calls: an `httpx.Auth` that asks a token provider per resource."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

import httpx


class TokenProvider(Protocol):
    """Hands out app-only access tokens for a resource (e.g. `https://graph.microsoft.com`)."""

    async def token(self, resource: str) -> str:
        """A valid access token for `resource`."""
        ...

    def invalidate(self, resource: str) -> None:
        """Forget the cached token for `resource` (after the service answered 401)."""
        ...


class BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer …` for one resource; on a 401, refreshes once and resends."""

    def __init__(self, provider: TokenProvider, resource: str) -> None:
        self._provider = provider
        self._resource = resource

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with a token; retry once with a fresh token if the first is rejected."""
        request.headers["Authorization"] = f"Bearer {await self._provider.token(self._resource)}"
        response = yield request
        if response.status_code == 401:
            self._provider.invalidate(self._resource)
            fresh = await self._provider.token(self._resource)
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request
