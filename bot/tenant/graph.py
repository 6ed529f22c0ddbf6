"""Microsoft Graph v1.0, app-only: one client, one `_request`, domain objects out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from bot.domain import DirectoryUser
from bot.errors import (
    NotAvailableInTenant,
    TenantError,
    TenantForbidden,
    TenantNotFound,
    TenantRequestFailed,
    TenantThrottled,
    TenantUnavailable,
)
from bot.tenant.transport import RetryPolicy, retry_after_seconds, send

SERVICE = "Microsoft Graph"
RESOURCE = "https://graph.microsoft.com"
BATCH_LIMIT = 20
_USER_FIELDS = "id,userPrincipalName,displayName,mail,accountEnabled"
_LICENCE_CODES = {
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant": "Microsoft Entra ID P1",
}


class GraphClient:
    """Calls Graph for one tenant; URL building, paging and JSON stay in here."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        auth: httpx.Auth,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/v1.0"
        self._auth = auth
        self._policy = policy or RetryPolicy()

    async def user(self, id_or_upn: str) -> DirectoryUser:
        """One user by object id or UPN."""
        data = await self._request("GET", f"/users/{quote(id_or_upn)}?$select={_USER_FIELDS}")
        return _user(data)

    async def users_by_upn(self, upns: Iterable[str]) -> dict[str, DirectoryUser]:
        """Look up many users at once (`$batch`, 20 per request); unknown UPNs are left out."""
        wanted = list(dict.fromkeys(u.lower() for u in upns))
        found: dict[str, DirectoryUser] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            chunk = wanted[start : start + BATCH_LIMIT]
            requests = [
                {
                    "id": str(i),
                    "method": "GET",
                    "url": f"/users/{quote(upn)}?$select={_USER_FIELDS}",
                }
                for i, upn in enumerate(chunk)
            ]
            for index, status, body in await self.batch(requests):
                if status == 200 and isinstance(body, dict):
                    user = _user(body)
                    found[chunk[index].lower()] = user
                elif status != 404:
                    raise _translate(status, body, {}, f"GET /users/{chunk[index]}")
        return found

    async def batch(self, requests: list[dict[str, Any]]) -> list[tuple[int, int, Any]]:
        """Send up to 20 requests as one `$batch`; returns (index, status, body) per request."""
        if len(requests) > BATCH_LIMIT:
            raise ValueError(f"a Graph $batch holds at most {BATCH_LIMIT} requests")
        data = await self._request("POST", "/$batch", {"requests": requests})
        answers = []
        for response in data.get("responses") or []:
            answers.append((int(response["id"]), int(response["status"]), response.get("body")))
        return sorted(answers)

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, safe: bool = True
    ) -> dict[str, Any]:
        url = path if path.startswith("http") else self._root + path

        async def once() -> httpx.Response:
            return await self._http.request(method, url, json=body, auth=self._auth)

        response = await send(SERVICE, f"{method} {path}", once, policy=self._policy, safe=safe)
        if response.is_success:
            data = response.json() if response.content else {}
            return data if isinstance(data, dict) else {}
        try:
            error_body = response.json()
        except ValueError:
            error_body = None
        raise _translate(response.status_code, error_body, response.headers, f"{method} {path}")


def _translate(status: int, body: Any, headers: Any, operation: str) -> TenantError:
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    text = f"{operation}: {message or status}"
    if code in _LICENCE_CODES:
        return NotAvailableInTenant(text, service=SERVICE, code=code, licence=_LICENCE_CODES[code])
    if status in (401, 403):
        return TenantForbidden(text, service=SERVICE, code=code)
    if status == 404:
        return TenantNotFound(text, service=SERVICE, code=code)
    if status == 429:
        retry = retry_after_seconds(headers.get("Retry-After") if headers else None)
        return TenantThrottled(text, service=SERVICE, code=code, retry_after=retry)
    if status >= 500:
        return TenantUnavailable(text, service=SERVICE, code=code)
    return TenantRequestFailed(text, service=SERVICE, code=code)


def _user(data: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(
        id=str(data["id"]),
        upn=str(data.get("userPrincipalName") or ""),
        display_name=str(data.get("displayName") or data.get("userPrincipalName") or ""),
        mail=data.get("mail"),
        account_enabled=bool(data.get("accountEnabled", True)),
    )
