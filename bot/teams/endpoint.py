"""The Bot Framework endpoint: authenticate, parse and hand one activity to botbuilder.

botbuilder 4.17 serialises invoke bodies twice under CloudAdapter and answers every invoke that
returns a body with HTTP 500 (botbuilder-python PR #2226; reported in microsoft/teams-sdk #2547
and #2510). We call `process_activity` ourselves with an already authenticated request and
serialise the InvokeResponse body once, here, which fixes `adaptiveCard/action` and every other
invoke in one place.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    JwtTokenExtractor,
)

from bot import metrics
from bot.chat.router import Router
from bot.logs import correlation_id
from bot.settings import Settings
from bot.teams.activities import shape_problem
from bot.teams.outbox import TeamsOutbox
from bot.teams.reuse import ReusingAuthentication, cheap_retry_policy, fast_plain_json
from bot.teams.shell import TeamsShell
from bot.teams.signing_keys import SigningKeys

log = logging.getLogger(__name__)
ACTIVITY_TYPES = frozenset(
    {"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "event"}
)


@dataclass(frozen=True)
class _BotFrameworkConfig:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def _config(settings: Settings) -> _BotFrameworkConfig:
    if not settings.app_id:
        # Auth off: only allowed on a loopback bind (Settings refuses anything else).
        return _BotFrameworkConfig("", "", "MultiTenant", "")
    return _BotFrameworkConfig(
        settings.app_id,
        settings.app_password.get_secret_value(),
        str(settings.app_type),
        settings.app_tenant_id,
    )


def _install_signing_keys(http: httpx.AsyncClient, channel_metadata_url: str) -> SigningKeys:
    """Make botbuilder's token validation read keys through SigningKeys (async, cached) instead
    of its own blocking fetch: it looks metadata up by URL in a process-wide cache."""
    channel = SigningKeys(http, channel_metadata_url)
    cache = JwtTokenExtractor.metadataCache
    cache[AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL] = channel
    emulator_url = AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
    cache[emulator_url] = SigningKeys(http, emulator_url)
    return channel


def _plain(value: Any) -> Any:
    """A msrest model or plain value as JSON-ready data."""
    return value.serialize() if hasattr(value, "serialize") else value


async def _on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    cid = correlation_id.get()
    log.error("turn failed", exc_info=error)
    try:
        await turn_context.send_activity(
            MessageFactory.text(f"Sorry, something went wrong. Reference: {cid}")
        )
    except Exception:  # the connector itself may be what failed
        log.exception("could not tell the user about the failed turn")


class TeamsChannel:
    """The connection to the Bot Framework: adapter, inbound authentication and the outbox."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.authenticating = bool(settings.app_id)  # off: loopback only (Settings, web.py)
        self.keys = _install_signing_keys(http, settings.botframework_openid_url)
        cheap_retry_policy()
        fast_plain_json()
        stock = ConfigurationBotFrameworkAuthentication(_config(settings))
        # Replies, card updates and proactive messages: one pool, at most 10 connections.
        self.connector_http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=10),
            timeout=aiohttp.ClientTimeout(total=30, connect=10),
        )
        self.auth = ReusingAuthentication(stock, self.connector_http)
        self.adapter = CloudAdapter(self.auth)
        self.adapter.on_turn_error = _on_turn_error
        self.outbox = TeamsOutbox(self.adapter, settings.app_id)

    async def aclose(self) -> None:
        """Close the connections to the Bot Connector."""
        await self.connector_http.close()


class TeamsEndpoint:
    """Serves one POST to /api/messages through the channel's adapter and the shell."""

    def __init__(self, channel: TeamsChannel, router: Router) -> None:
        self._channel = channel
        self._shell = TeamsShell(router, channel.outbox)

    def accepts_host(self, host: str) -> bool:
        """See bot.teams.web.ActivityEndpoint: every host when tokens are checked."""
        return self._channel.authenticating or loopback_host(host)

    async def identify(self, auth_header: str) -> bool:
        """Whether the token proves a Bot Framework caller (signature, issuer, audience, expiry),
        before anything in the body is read; without a bot identity every caller passes."""
        return await self._authenticate(Activity(), auth_header) is not None

    async def handle(self, body: dict[str, Any], auth_header: str) -> tuple[int, Any]:
        """Process one activity; returns the HTTP status and JSON body to answer with."""
        status, answer = await self._handle(body, auth_header)
        kind = body.get("type")
        known = isinstance(kind, str) and kind in ACTIVITY_TYPES  # `type` may be anything here
        metrics.ACTIVITIES.labels(kind if known else "other", str(status)).inc()
        return status, answer

    async def _handle(self, body: dict[str, Any], auth_header: str) -> tuple[int, Any]:
        try:
            activity = Activity().deserialize(body)
        except Exception as err:  # msrest raises DeserializationError and friends on bad shapes
            log.warning("rejected a malformed activity", extra={"error": str(err)[:200]})
            return 400, {"error": "not a valid activity"}
        if not isinstance(activity.type, str) or not activity.type:
            return 400, {"error": "not an activity: 'type' is missing"}
        if problem := shape_problem(body, activity):
            log.warning("rejected a malformed activity", extra={"error": problem})
            return 400, {"error": f"not a valid activity: {problem}"}
        correlation_id.set(_reference(activity.id))
        if not self._channel.authenticating and not loopback_url(activity.service_url):
            log.warning("refused an activity whose serviceUrl is not loopback")
            return 403, {"error": "with inbound authentication off, serviceUrl must be loopback"}
        # Again with the activity: the token must also name its channel and serviceUrl.
        authenticated = await self._authenticate(activity, auth_header)
        if authenticated is None:
            return 401, {"error": "unauthorized"}
        response = await self._channel.adapter.process_activity(
            authenticated, activity, self._shell.on_turn
        )
        if response is None:
            return 201 if activity.type != ActivityTypes.invoke else 200, None
        return int(response.status), _plain(response.body)

    async def _authenticate(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult | None:
        try:
            return await self._channel.auth.authenticate_request(activity, auth_header)
        except Exception as err:  # botbuilder raises PermissionError, PyJWT errors, bare Exception
            log.warning(
                "rejected activity: authentication failed",
                extra={"reason": f"{type(err).__name__}: {str(err)[:200]}"},
            )
            return None


_LOOPBACK_HOST = re.compile(r"(127(\.\d{1,3}){3}|localhost|\[::1\])(:\d{1,5})?", re.IGNORECASE)


def loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback: 127.x.x.x, localhost or [::1],
    with or without a port."""
    return bool(_LOOPBACK_HOST.fullmatch(host.strip()))


def loopback_url(url: object) -> bool:
    """Whether `url` is an http(s) URL on loopback."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        name = parts.hostname or ""
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    return name.lower() in ("localhost", "::1") or bool(re.fullmatch(r"127(\.\d{1,3}){3}", name))


_REFERENCE = re.compile(r"[A-Za-z0-9:._|@-]{1,128}")


def _reference(activity_id: object) -> str:
    """The correlation id of a turn: the activity's id when it looks like one (it reaches logs
    and error cards), else a fresh one."""
    if isinstance(activity_id, str) and _REFERENCE.fullmatch(activity_id):
        return activity_id
    return str(uuid.uuid4())
