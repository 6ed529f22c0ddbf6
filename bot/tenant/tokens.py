"""App-only tokens from Microsoft Entra ID with msal (client secret or certificate).

One `ConfidentialClientApplication` per process, so msal's token cache works. msal is
synchronous (its constructor even fetches the discovery document), so it always runs in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from bot import metrics
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._authority = f"{authority_url.rstrip('/')}/{tenant_id}"
        self._client_id = client_id
        self._credential = credential
        self._ca_bundle = ca_bundle
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = asyncio.Lock()
        self._cache: dict[str, tuple[str, float]] = {}
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._http = self._session()

    async def token(self, resource: str) -> str:
        """A token for `resource` (its `/.default` scope), from cache while fresh; concurrent
        callers for one resource share a single request."""
        async with self._locks.setdefault(resource, asyncio.Lock()):
            return await self._token(resource)

    async def _token(self, resource: str) -> str:
        cached = self._cache.get(resource)
        if cached and cached[1] - REFRESH_MARGIN_SECONDS > self._clock():
            return cached[0]
        app = await self._application()
        if cached:  # about to expire: make msal fetch a new one instead of its cached copy
            self._forget(app, resource)
        result: dict[str, Any] = await asyncio.to_thread(
            app.acquire_token_for_client, [_scope(resource)]
        )
        if "access_token" not in result:
            metrics.TOKEN_FAILURES.inc()
            raise _token_error(result)
        token = str(result["access_token"])
        self._cache[resource] = (token, self._clock() + float(result.get("expires_in", 3599)))
        return token

    def invalidate(self, resource: str) -> None:
        """Drop the cached token after a 401, in our cache and msal's."""
        self._cache.pop(resource, None)
        if self._app is not None:
            self._forget(self._app, resource)

    @staticmethod
    def _forget(app: msal.ConfidentialClientApplication, resource: str) -> None:
        cache = app.token_cache
        kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
        for item in list(cache.search(kind, target=[_scope(resource)])):
            cache.remove_at(item)

    def close(self) -> None:
        """Close msal's HTTP connections."""
        self._http.close()

    async def _application(self) -> msal.ConfidentialClientApplication:
        async with self._app_lock:
            if self._app is None:
                self._app = await asyncio.to_thread(self._build)
            return self._app

    def _session(self) -> requests.Session:
        """msal's HTTP session. requests lets REQUESTS_CA_BUNDLE in the environment override a
        session-level `verify` (and msal's own `verify=`), so the CA bundle is passed with
        every request instead, where the environment cannot override it."""
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=1)
        session.mount("https://", adapter)
        options: dict[str, Any] = {"timeout": 30}
        if self._ca_bundle:
            options["verify"] = self._ca_bundle
        session.request = functools.partial(session.request, **options)  # type: ignore[method-assign]
        return session

    def _build(self) -> msal.ConfidentialClientApplication:
        host = urlsplit(self._authority).hostname or ""
        known = host in KNOWN_AUTHORITY_HOSTS
        kwargs: dict[str, Any] = {"instance_discovery": known, "http_client": self._http}
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
            metrics.TOKEN_FAILURES.inc()
            raise TenantUnavailable(
                f"Microsoft Entra ID could not be reached: {type(err).__name__}",
                service="Microsoft Entra ID",
            ) from err


def _scope(resource: str) -> str:
    return resource.rstrip("/") + "/.default"


def _token_error(result: dict[str, Any]) -> TenantForbidden:
    code = str(result.get("error", "unknown_error"))
    description = str(result.get("error_description", "")).split("\r\n")[0].split("\n")[0]
    return TenantForbidden(
        f"no token from Microsoft Entra ID: {code}: {description}",
        service="Microsoft Entra ID",
        code=code,
    )
