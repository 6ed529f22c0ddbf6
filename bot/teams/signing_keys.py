"""The Bot Framework's token signing keys, fetched without blocking the event loop.

botbuilder 4.17 reads the OpenID metadata and the JSON Web Key Set with a blocking
`requests.get` (no timeout) inside its async token validation (botbuilder-python #2230). While
Microsoft's endpoint is slow, every request to the bot would wait on it. `SigningKeys` does the
same job with the service's async HTTP client: one fetch at a time, a timeout, refreshed daily,
and at most once per `unknown_key_refresh` when a token names a key we do not know (Microsoft
rotates keys). `bot.teams` installs it where botbuilder looks up its metadata.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from bot import metrics

log = logging.getLogger(__name__)

BOT_FRAMEWORK_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"


@dataclass(frozen=True)
class SigningKey:
    """What botbuilder's JwtTokenExtractor reads from a looked-up key."""

    public_key: Any
    endorsements: list[str]


class UnknownSigningKeyError(PermissionError):
    """The token names a key the metadata does not publish: the token is not trusted."""


class SigningKeys:
    """The keys published at an OpenID metadata URL, cached and refreshed asynchronously."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        metadata_url: str,
        *,
        max_age: float = 24 * 3600,
        unknown_key_refresh: float = 300,
        retry_after_failure: float = 30,
        timeout: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metadata_url = metadata_url
        self._http = http
        self._max_age = max_age
        self._unknown_key_refresh = unknown_key_refresh
        self._retry_after_failure = retry_after_failure
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self, key_id: str | None) -> SigningKey:
        """The key with this id (`kid`); raises UnknownSigningKeyError when there is none.
        While Microsoft's endpoint fails, keys already known stay in use."""
        if self._stale(self._max_age):
            await self.warm(self._max_age)
        key = self._keys.get(key_id or "")
        if key is None and self._stale(self._unknown_key_refresh):
            await self.warm(self._unknown_key_refresh)
            key = self._keys.get(key_id or "")
        if key is None:
            raise UnknownSigningKeyError("the token's signing key is not published")
        return key

    async def warm(self, older_than: float = 0) -> None:
        """Refresh, logging rather than raising on failure; after a failure, callers in the
        next `retry_after_failure` seconds do not wait on another attempt."""
        failed_at = self._failed_at
        if failed_at is not None and self._clock() - failed_at < self._retry_after_failure:
            return
        try:
            await self.refresh(older_than)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            metrics.SIGNING_KEY_FAILURES.inc()
            self._failed_at = self._clock()
            log.warning(
                "could not fetch the Bot Framework signing keys",
                extra={"url": self.metadata_url, "error": type(err).__name__},
            )

    async def refresh(self, older_than: float) -> None:
        """Fetch metadata and keys unless another caller did so in the last `older_than` s."""
        async with self._lock:
            if not self._stale(older_than):
                return  # someone else refreshed while we waited
            metadata = await self._json(self.metadata_url)
            jwks = await self._json(str(metadata["jwks_uri"]))
            self._keys = _parse_keys(jwks)
            self._fetched_at = self._clock()
            self._failed_at = None
            log.info("fetched Bot Framework signing keys", extra={"keys": len(self._keys)})

    def _stale(self, max_age: float) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= max_age

    async def _json(self, url: str) -> Any:
        response = await self._http.get(url, timeout=self._timeout)
        response.raise_for_status()
        return response.json()


def _parse_keys(jwks: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid"):
            continue
        try:
            public_key = RSAAlgorithm.from_jwk(json.dumps(jwk))
        except (InvalidKeyError, ValueError, TypeError):
            log.warning("skipping a malformed signing key", extra={"kid": str(jwk["kid"])[:64]})
            continue
        endorsements = jwk.get("endorsements")
        if not isinstance(endorsements, list):
            endorsements = []
        keys[str(jwk["kid"])] = SigningKey(
            public_key, [e for e in endorsements if isinstance(e, str)]
        )
    if not keys:
        raise ValueError("the key set publishes no RSA signing keys")
    return keys
