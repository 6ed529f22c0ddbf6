"""Workarounds for where botbuilder 4.17 and msrest spend a turn's time (measured with py-spy;
docs/performance.md has the numbers).

1. msrest `ClientRetryPolicy.__init__` computes `[i for i in range(999) if i not in
   safe_codes]` with `safe_codes` a 500-item list: half a million comparisons for every msrest
   `Configuration()`, and botbuilder builds two per turn (a ConnectorClient and a
   UserTokenClient). Upstream: msrest/universal_http/requests.py (msrest 0.7.1, archived).
   `cheap_retry_policy` makes `safe_codes` a frozenset: the same codes, set lookups.
2. `CloudAdapterBase.process_activity` and `continue_conversation` ask the connector factory for
   a new `ConnectorClient` on every turn, each with its own `requests.Session`: a new TCP (and in
   production TLS) connection per reply. Upstream: botbuilder-core cloud_adapter_base.py and
   botframework-connector auth/_connector_factory_impl.py. `ReusingAuthentication` hands out one
   ConnectorClient per (bot, serviceUrl, audience), whose session pools its connections, and one
   UserTokenClient per bot identity (BlockWatch does not use OAuth prompts; botbuilder still
   builds one per turn).
   Those ConnectorClients also send through aiohttp on the event loop (`_AiohttpSender`, one
   pooled session for every reply, card update and proactive message) instead of msrest's
   default, `requests` in executor threads: no thread hop per reply, and the bot's token is
   fetched in a worker thread and kept for TOKEN_SECONDS (`_BearerPolicy`; botbuilder's
   credentials fetch it with msal and `requests`, blocking, on the event loop).
3. msrest serialises an activity's attachment content (a card: plain JSON, often 20-30 KB)
   value by value in Python, through `serialize_object`, `serialize_basic` (which calls
   `eval` on a type name per value) and friends: a third of a "who is blocked" turn's CPU.
   Upstream: msrest/serialization.py `Serializer.serialize_object`. `fast_plain_json` returns
   plain JSON (what `json.dumps` accepts) as it is, which is what msrest would have rebuilt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.bot_framework_sdk_client_async import (
    BotFrameworkConnectorConfiguration,
)
from msrest.exceptions import ClientRequestError
from msrest.pipeline import Response
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline
from msrest.pipeline.universal import RawDeserializer
from msrest.serialization import Serializer
from msrest.universal_http import HTTPClientResponse
from msrest.universal_http.requests import ClientRetryPolicy
from multidict import CIMultiDictProxy

log = logging.getLogger(__name__)

MAX_CLIENTS = 64  # serviceUrls are a handful of Teams regions; a bound all the same
TOKEN_SECONDS = 600.0  # the Bot Connector's tokens live an hour; msal refreshes them itself
USER_AGENT = "BlockWatch (botbuilder-python 4.17)"
RETRIED = frozenset({408, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    """The connector's answer, read whole (what SendFailed and msrest's errors look at)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Response(HTTPClientResponse):
    """An answer as msrest's pipeline reads it."""

    def __init__(self, request: Any, answer: Answer, reason: str) -> None:
        super().__init__(request, answer)
        self.status_code = answer.status_code
        self.headers = dict(answer.headers)
        self.reason = reason
        self._body = answer.content

    def body(self) -> bytes:
        return self._body

    def raise_for_status(self) -> None:
        if (self.status_code or 0) >= 400:
            raise ClientRequestError(f"the Bot Connector answered {self.status_code}")


class _AiohttpSender(AsyncHTTPSender[Any, Any]):
    """msrest's last pipeline step, sending with the shared aiohttp session (a gateway error
    or a 408 is tried twice more, as msrest's `requests` retry policy did)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> _AiohttpSender:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        return None

    def build_context(self) -> Any:
        return None

    async def send(self, request: Any, **config: Any) -> Response[Any, Any]:
        http = request.http_request
        for attempt in range(3):
            async with self._session.request(
                http.method, http.url, headers=dict(http.headers), data=http.data
            ) as response:
                answer = Answer(response.status, response.headers, await response.read())
                reason = response.reason or ""
            if answer.status_code not in RETRIED or attempt == 2:
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        return Response(request, _Response(http, answer, reason))


class _BearerPolicy(AsyncHTTPPolicy[Any, Any]):
    """Adds the bot's token, fetched off the event loop and kept for TOKEN_SECONDS (none when
    no bot identity is set, as botbuilder does)."""

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials
        self._token: tuple[float, str] | None = None

    async def send(self, request: Any, **kwargs: Any) -> Response[Any, Any]:
        app_id = getattr(self._credentials, "microsoft_app_id", "")
        if app_id and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID:
            if self._token is None or time.monotonic() - self._token[0] > TOKEN_SECONDS:
                token = await asyncio.to_thread(self._credentials.get_access_token)
                self._token = (time.monotonic(), token)
            request.http_request.headers["Authorization"] = f"Bearer {self._token[1]}"
        assert self.next is not None
        response: Response[Any, Any] = await self.next.send(request, **kwargs)
        if response.http_response.status_code == 401:
            self._token = None  # fetched afresh next time
        return response


Pipeline = AsyncPipeline[Any, Any]


def _pipeline(session: aiohttp.ClientSession, credentials: Any) -> Callable[[Any], Pipeline]:
    def build(config: Any) -> Pipeline:
        policies = [
            config.user_agent_policy,
            _BearerPolicy(credentials),
            RawDeserializer(),
            config.http_logger_policy,
        ]
        return AsyncPipeline(policies, _AiohttpSender(session))

    return build


def cheap_retry_policy() -> None:
    """Make msrest's retry-policy construction cheap (see the module docstring, 1)."""
    ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]


def fast_plain_json() -> None:
    """Let msrest pass plain JSON through unchanged (see the module docstring, 3)."""
    original = Serializer.serialize_object
    if getattr(original, "plain_json_first", False):
        return

    def serialize_object(self: Serializer, attr: Any, **kwargs: Any) -> Any:
        if type(attr) in (dict, list):
            try:
                json.dumps(attr, allow_nan=False)  # C speed: only plain JSON passes
            except (TypeError, ValueError):
                pass
            else:
                return attr
        return original(self, attr, **kwargs)  # type: ignore[no-untyped-call]

    serialize_object.plain_json_first = True  # type: ignore[attr-defined]
    Serializer.serialize_object = serialize_object  # type: ignore[method-assign]


class _Clients:
    """ConnectorClients by (bot app id, serviceUrl, audience), least recently used evicted,
    all sending through one httpx client."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._clients: OrderedDict[tuple[str, str, str], ConnectorClient] = OrderedDict()

    async def get(
        self, inner: ConnectorFactory, service_url: str, audience: str | None
    ) -> ConnectorClient:
        key = (str(getattr(inner, "_app_id", "")), service_url, audience or "")
        client = self._clients.get(key)
        if client is None:
            stock = await inner.create(service_url, audience)  # for its credentials
            credentials = stock.config.credentials
            config = BotFrameworkConnectorConfiguration(
                credentials, service_url, pipeline_type=_pipeline(self._http, credentials)
            )
            config.add_user_agent(USER_AGENT)
            client = ConnectorClient(credentials, service_url, custom_configuration=config)
            self._clients[key] = client
            if len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return client


class _ReusingFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(self, inner: ConnectorFactory, clients: _Clients) -> None:
        self._inner = inner
        self._clients = clients

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        return await self._clients.get(self._inner, service_url, audience)


class ReusingAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """`inner`, handing out reused connector and token clients (module docstring, 2)."""

    def __init__(self, inner: BotFrameworkAuthentication, http: aiohttp.ClientSession) -> None:
        self._inner = inner
        self._clients = _Clients(http)
        self._token_clients: dict[tuple[str, ...], UserTokenClient] = {}

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result: AuthenticateRequestResult = await self._inner.authenticate_request(
            activity, auth_header
        )
        if result.connector_factory is not None:
            result.connector_factory = _ReusingFactory(result.connector_factory, self._clients)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        inner = self._inner.create_connector_factory(claims_identity)
        return _ReusingFactory(inner, self._clients)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        claims = claims_identity.claims or {}
        key = tuple(str(claims.get(name, "")) for name in ("aud", "appid", "azp", "ver"))
        client = self._token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            if len(self._token_clients) < MAX_CLIENTS:
                self._token_clients[key] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)
