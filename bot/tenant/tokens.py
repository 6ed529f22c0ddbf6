"""App-only tokens from Microsoft Entra ID with msal: a client secret or certificate
(`MsalTokens`), or the managed identity of the Azure resource BlockWatch runs on
(`ManagedIdentityTokens`: App Service / Container Apps `IDENTITY_ENDPOINT`, or the VM's IMDS).

One msal client per process, so msal's token cache works. msal is synchronous (its constructor
even fetches the discovery document), so it always runs in a worker thread, never on the event
loop.
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


class _CachedTokens:
    """Tokens cached per resource until shortly before expiry; concurrent callers for one
    resource share a single request. Subclasses say how msal fetches one."""

    def __init__(self, *, ca_bundle: str | None, clock: Callable[[], float]) -> None:
        self._ca_bundle = ca_bundle
        self._cache: dict[str, tuple[str, float]] = {}
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._http = self._session()

    async def token(self, resource: str) -> str:
        """A token for `resource`, from cache while fresh."""
        async with self._locks.setdefault(resource, asyncio.Lock()):
            cached = self._cache.get(resource)
            if cached and cached[1] - REFRESH_MARGIN_SECONDS > self._clock():
                return cached[0]
            result = await self._acquire(resource, expiring=cached is not None)
            if "access_token" not in result:
                metrics.TOKEN_FAILURES.inc()
                raise _token_error(result)
            token = str(result["access_token"])
            expires = self._clock() + float(result.get("expires_in", 3599))
            self._cache[resource] = (token, expires)
            return token

    def invalidate(self, resource: str) -> None:
        """Drop the cached token after a 401, in our cache and msal's."""
        self._cache.pop(resource, None)
        self._forget(resource)

    def close(self) -> None:
        """Close msal's HTTP connections."""
        self._http.close()

    async def _acquire(self, resource: str, *, expiring: bool) -> dict[str, Any]:
        raise NotImplementedError

    def _forget(self, resource: str) -> None:
        raise NotImplementedError

    @staticmethod
    def _remove(cache: msal.TokenCache, target: str) -> None:
        kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
        for item in list(cache.search(kind, target=[target])):
            cache.remove_at(item)

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


class MsalTokens(_CachedTokens):
    """A `TokenProvider` for app-only tokens of an app registration (secret or certificate)."""

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
        super().__init__(ca_bundle=ca_bundle, clock=clock)
        self._authority = f"{authority_url.rstrip('/')}/{tenant_id}"
        self._client_id = client_id
        self._credential = credential
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = asyncio.Lock()

    async def _acquire(self, resource: str, *, expiring: bool) -> dict[str, Any]:
        app = await self._application()
        if expiring:  # about to expire: make msal fetch a new one instead of its cached copy
            self._remove(app.token_cache, _scope(resource))
        result: dict[str, Any] = await asyncio.to_thread(
            app.acquire_token_for_client, [_scope(resource)]
        )
        return result

    def _forget(self, resource: str) -> None:
        if self._app is not None:
            self._remove(self._app.token_cache, _scope(resource))

    async def _application(self) -> msal.ConfidentialClientApplication:
        async with self._app_lock:
            if self._app is None:
                self._app = await asyncio.to_thread(self._build)
            return self._app

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


class ManagedIdentityTokens(_CachedTokens):
    """A `TokenProvider` for the managed identity of the Azure resource BlockWatch runs on:
    system-assigned (`client_id` empty) or user-assigned. msal finds the endpoint itself
    (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` on App Service and Container Apps, else IMDS)."""

    def __init__(
        self,
        *,
        client_id: str = "",
        ca_bundle: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ca_bundle=ca_bundle, clock=clock)
        identity: dict[str, Any] = (
            msal.UserAssignedManagedIdentity(client_id=client_id)
            if client_id
            else msal.SystemAssignedManagedIdentity()
        )
        self._msal_cache = msal.TokenCache()
        self._client = msal.ManagedIdentityClient(
            identity, http_client=self._http, token_cache=self._msal_cache
        )

    async def _acquire(self, resource: str, *, expiring: bool) -> dict[str, Any]:
        if expiring:
            self._remove(self._msal_cache, resource)
        try:
            result: dict[str, Any] = await asyncio.to_thread(
                self._client.acquire_token_for_client, resource=resource
            )
        except Exception as err:  # msal raises the transport's own errors
            metrics.TOKEN_FAILURES.inc()
            raise TenantUnavailable(
                f"the managed identity endpoint could not be reached: {type(err).__name__}",
                service="Microsoft Entra ID",
            ) from err
        return result

    def _forget(self, resource: str) -> None:
        self._remove(self._msal_cache, resource)


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
