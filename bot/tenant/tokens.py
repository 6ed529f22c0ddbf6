"""App-only tokens from Microsoft Entra ID with msal (client secret or certificate).

One `ConfidentialClientApplication` per process, so msal's token cache works. msal is
synchronous (its constructor even fetches the discovery document), so it always runs in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal

from bot.errors import TenantForbidden, TenantUnavailable

KNOWN_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
REFRESH_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class ClientCredential:
    """A client secret, or a PEM certificate (with private key) and its thumbprint."""

    secret: str = ""
    certificate_path: Path | None = None
    thumbprint: str = ""

    def for_msal(self) -> str | dict[str, str]:
        """The `client_credential` argument msal expects."""
        if self.certificate_path is None:
            return self.secret
        pem = self.certificate_path.read_text(encoding="utf-8")
        return {"private_key": pem, "thumbprint": self.thumbprint.replace(":", "")}


class MsalTokens:
    """A `TokenProvider` for app-only tokens, cached per resource until shortly before expiry."""

    def __init__(
        self,
        *,
        authority_url: str,
        tenant_id: str,
        client_id: str,
        credential: ClientCredential,
        ca_bundle: str | None = None,
    ) -> None:
        self._authority = f"{authority_url.rstrip('/')}/{tenant_id}"
        self._client_id = client_id
        self._credential = credential
        self._ca_bundle = ca_bundle
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = asyncio.Lock()
        self._cache: dict[str, tuple[str, float]] = {}

    async def token(self, resource: str) -> str:
        """A token for `resource` (its `/.default` scope), from cache while fresh."""
        cached = self._cache.get(resource)
        if cached and cached[1] - REFRESH_MARGIN_SECONDS > time.time():
            return cached[0]
        app = await self._application()
        scope = resource.rstrip("/") + "/.default"
        result: dict[str, Any] = await asyncio.to_thread(app.acquire_token_for_client, [scope])
        if "access_token" not in result:
            raise _token_error(result)
        token = str(result["access_token"])
        self._cache[resource] = (token, time.time() + float(result.get("expires_in", 3599)))
        return token

    def invalidate(self, resource: str) -> None:
        """Drop the cached token (msal's own cache is bypassed on the next call too)."""
        self._cache.pop(resource, None)
        if self._app is not None:
            for account_token in self._app.token_cache.search(
                msal.TokenCache.CredentialType.ACCESS_TOKEN
            ):
                self._app.token_cache.remove_at(account_token)

    async def _application(self) -> msal.ConfidentialClientApplication:
        async with self._app_lock:
            if self._app is None:
                self._app = await asyncio.to_thread(self._build)
            return self._app

    def _build(self) -> msal.ConfidentialClientApplication:
        host = urlsplit(self._authority).hostname or ""
        known = host in KNOWN_AUTHORITY_HOSTS
        kwargs: dict[str, Any] = {"instance_discovery": known}
        if self._ca_bundle:
            kwargs["verify"] = self._ca_bundle
        try:
            return msal.ConfidentialClientApplication(
                self._client_id,
                authority=self._authority,
                client_credential=self._credential.for_msal(),
                **kwargs,
            )
        except ValueError as err:
            raise TenantForbidden(
                f"cannot use the configured authority: {err}", service="Microsoft Entra ID"
            ) from err
        except Exception as err:
            raise TenantUnavailable(
                f"Microsoft Entra ID could not be reached: {type(err).__name__}",
                service="Microsoft Entra ID",
            ) from err


def _token_error(result: dict[str, Any]) -> TenantForbidden:
    code = str(result.get("error", "unknown_error"))
    description = str(result.get("error_description", "")).split("\r\n")[0].split("\n")[0]
    return TenantForbidden(
        f"no token from Microsoft Entra ID: {code}: {description}",
        service="Microsoft Entra ID",
        code=code,
    )
