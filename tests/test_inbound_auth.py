"""Inbound authentication: Bot Framework JWTs checked against keys from a local OpenID server.

The bot runs with auth on (SingleTenant app id) and BOTFRAMEWORK_OPENID_METADATA_URL pointing
at a local aiohttp server that publishes a locally generated RSA key, as
login.botframework.com does. Only a correctly signed, current token for this app and this
serviceUrl reaches the handler; everything else is 401 and leaves no trace in the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.store.schema import audit_events, conversations
from bot.teams.signing_keys import SigningKeys, UnknownSigningKeyError
from tests.conftest import BotUnderTest
from tests.helpers import TENANT, FakeClock, Recorder, invoke

APP_ID = "6d3c1f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
ISSUER = "https://api.botframework.com"
KID = "local-key-1"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class OpenIdServer:
    """A local stand-in for login.botframework.com: metadata plus a key set."""

    key: rsa.RSAPrivateKey = field(default_factory=_private_key)
    fetches: int = 0
    hold: asyncio.Event | None = None  # when set, the key set waits for it
    broken: bool = False  # the key set answers 500
    url: str = ""

    def app(self) -> web.Application:
        async def metadata(request: web.Request) -> web.Response:
            base = f"{request.scheme}://{request.host}"
            return web.json_response({"issuer": ISSUER, "jwks_uri": f"{base}/keys"})

        async def keys(request: web.Request) -> web.Response:
            self.fetches += 1
            if self.broken:
                return web.json_response({"error": "unavailable"}, status=500)
            if self.hold is not None:
                await self.hold.wait()
            jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            jwk.update(kid=KID, use="sig", endorsements=["msteams"])
            return web.json_response({"keys": [jwk]})

        app = web.Application()
        app.router.add_get("/.well-known/openidconfiguration", metadata)
        app.router.add_get("/keys", keys)
        return app


@pytest.fixture
async def openid() -> AsyncIterator[OpenIdServer]:
    server_state = OpenIdServer()
    server = TestServer(server_state.app(), host="127.0.0.1")
    await server.start_server()
    server_state.url = str(server.make_url("/.well-known/openidconfiguration"))
    yield server_state
    await server.close()


AUTH_ON = {
    "DEMO": "true",  # the simulated tenant, with the bot identity checking inbound tokens
    "MicrosoftAppId": APP_ID,
    "MicrosoftAppPassword": "not-used-offline",
    "MicrosoftAppType": "SingleTenant",
    "MicrosoftAppTenantId": TENANT,
}


async def _bot(start_bot: Callable[..., Any], openid: OpenIdServer) -> BotUnderTest:
    bot: BotUnderTest = await start_bot(BOTFRAMEWORK_OPENID_METADATA_URL=openid.url, **AUTH_ON)
    return bot


def _claims(recorder: Recorder, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": recorder.url,
        "nbf": now - 60,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: rsa.RSAPrivateKey, claims: dict[str, Any], *, kid: str = KID) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _click(recorder: Recorder, conversation: str) -> dict[str, Any]:
    body = invoke("list_page", {"verb": "list_page", "page": 1}, service_url=recorder.url)
    body["conversation"]["id"] = conversation
    return body


async def _trace(bot: BotUnderTest, conversation: str) -> tuple[int, int]:
    """(conversations remembered, audit events) for this conversation: the handler's marks."""
    async with bot.runtime.engine.connect() as conn:
        remembered = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(conversations)
            .where(conversations.c.id == conversation)
        )
        events = await conn.scalar(sa.select(sa.func.count()).select_from(audit_events))
    return int(remembered or 0), int(events or 0)


async def test_a_valid_token_reaches_the_handler(
    start_bot: Callable[..., Any], recorder: Recorder, openid: OpenIdServer
) -> None:
    bot = await _bot(start_bot, openid)
    token = _token(openid.key, _claims(recorder))
    response = await bot.post(
        _click(recorder, "a:valid"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "application/vnd.microsoft.card.adaptive"
    assert await _trace(bot, "a:valid") == (1, 0)


def _bad_requests(openid: OpenIdServer, recorder: Recorder) -> dict[str, str | None]:
    """Authorization headers that must all be refused, by name."""
    stranger = _private_key()
    none_token = jwt.encode(_claims(recorder), None, algorithm="none", headers={"kid": KID})
    now = int(time.time())
    return {
        "bad signature": "Bearer " + _token(stranger, _claims(recorder)),
        "expired": "Bearer " + _token(openid.key, _claims(recorder, exp=now - 3600)),
        "not yet valid": "Bearer " + _token(openid.key, _claims(recorder, nbf=now + 3600)),
        "wrong audience": "Bearer " + _token(openid.key, _claims(recorder, aud="someone-else")),
        "no audience": "Bearer " + _token(openid.key, _claims(recorder, aud=None)),
        "wrong issuer": "Bearer "
        + _token(openid.key, _claims(recorder, iss="https://evil.example")),
        "serviceurl mismatch": "Bearer "
        + _token(openid.key, _claims(recorder, serviceurl="https://evil.example/")),
        "no serviceurl": "Bearer " + _token(openid.key, _claims(recorder, serviceurl=None)),
        "unknown key": "Bearer " + _token(openid.key, _claims(recorder), kid="other-key"),
        "alg none": f"Bearer {none_token}",
        "not a JWT": "Bearer not-a-token",
        "other scheme": "Basic " + _token(openid.key, _claims(recorder)),
        "missing header": None,
    }


async def test_every_bad_token_is_401_and_never_reaches_the_handler(
    start_bot: Callable[..., Any], recorder: Recorder, openid: OpenIdServer
) -> None:
    bot = await _bot(start_bot, openid)
    statuses: dict[str, int] = {}
    for index, (name, header) in enumerate(_bad_requests(openid, recorder).items()):
        headers = {"Authorization": header} if header is not None else {}
        response = await bot.post(_click(recorder, f"a:bad-{index}"), headers=headers)
        statuses[name] = response.status_code
        assert response.json() == {"error": "unauthorized"}
        assert await _trace(bot, f"a:bad-{index}") == (0, 0), name
    assert statuses == dict.fromkeys(statuses, 401)
    assert recorder.calls == []  # nothing was sent to the connector either
    assert (await bot.client.get("/healthz")).status_code == 200


async def test_keys_are_fetched_once_without_blocking_the_event_loop(
    start_bot: Callable[..., Any], recorder: Recorder, openid: OpenIdServer
) -> None:
    # The key server holds its answer: botbuilder's own blocking fetch would freeze the whole
    # loop here (this server runs on it); ours waits while /healthz still answers.
    openid.hold = asyncio.Event()
    bot = await _bot(start_bot, openid)
    token = _token(openid.key, _claims(recorder))
    click = asyncio.create_task(
        bot.post(_click(recorder, "a:held"), headers={"Authorization": f"Bearer {token}"})
    )
    assert (await bot.client.get("/healthz")).status_code == 200
    assert not click.done()
    openid.hold.set()
    assert (await click).status_code == 200
    for _ in range(3):
        again = await bot.post(
            _click(recorder, "a:held"), headers={"Authorization": f"Bearer {token}"}
        )
        assert again.status_code == 200
    assert openid.fetches == 1  # the start-up warm-up and the first request shared one fetch


async def test_known_keys_stay_in_use_while_the_key_server_fails(openid: OpenIdServer) -> None:
    clock = FakeClock()
    async with httpx.AsyncClient() as http:
        keys = SigningKeys(http, openid.url, max_age=60, retry_after_failure=30, clock=clock)
        first = await keys.get(KID)
        assert first.endorsements == ["msteams"]
        openid.broken = True
        clock.now = 61  # stale: the refresh fails, the known key still answers
        assert (await keys.get(KID)).public_key is first.public_key
        fetches = openid.fetches
        clock.now = 70  # within the back-off nobody waits on another attempt
        await keys.get(KID)
        assert openid.fetches == fetches
        with pytest.raises(UnknownSigningKeyError):
            await keys.get("rotated-key")
        openid.broken = False
        clock.now = 100  # back-off over: refreshed
        await keys.get(KID)
        assert openid.fetches == fetches + 1


async def test_who_is_asking_comes_before_what_they_sent(
    start_bot: Callable[..., Any], recorder: Recorder, openid: OpenIdServer
) -> None:
    """Each step of the pipeline has its own answer, in order: size (413), identity (401),
    content type (415), bounded JSON (400), activity shape (400), then the token must match
    the activity (401)."""
    bot = await _bot(start_bot, openid)
    good = {"Authorization": "Bearer " + _token(openid.key, _claims(recorder))}
    forged = {"Authorization": "Bearer " + _token(_private_key(), _claims(recorder))}
    malformed = _click(recorder, "a:shape")
    del malformed["serviceUrl"]
    huge = b'{"type": "message", "text": "' + b"x" * 300_000 + b'"}'
    deep = b"[" * 5000 + b"]" * 5000
    digits = b'{"type": "message", "id": ' + b"9" * 5000 + b"}"
    json_type = {"Content-Type": "application/json"}

    async def raw(content: bytes, headers: dict[str, str]) -> httpx.Response:
        return await bot.client.post("/api/messages", content=content, headers=headers)

    # size first, whoever asks
    assert (await raw(huge, json_type)).status_code == 413
    assert (await raw(huge, json_type | good)).status_code == 413
    # then identity: nothing about the body is judged for a caller who proved nothing
    for headers in ({}, forged):
        assert (await bot.post(malformed, headers=headers)).status_code == 401
        assert (await raw(deep, json_type | headers)).status_code == 401
        assert (await raw(digits, json_type | headers)).status_code == 401
        text_plain = {"Content-Type": "text/plain"} | headers
        assert (await raw(b"who is blocked", text_plain)).status_code == 401
    # a proven caller hears what is wrong with the request
    assert (await raw(b"who is blocked", {"Content-Type": "text/plain"} | good)).status_code == 415
    for body, reason in ((deep, "nested deeper"), (digits, "more than 64 characters")):
        answer = await raw(body, json_type | good)
        assert answer.status_code == 400
        assert reason in answer.json()["error"]
    shape = await bot.post(malformed, headers=good)
    assert (shape.status_code, shape.json()) == (
        400,
        {"error": "not a valid activity: serviceUrl is missing or malformed"},
    )
    # a valid token for another serviceUrl proves nothing about this activity
    elsewhere = _click(recorder, "a:elsewhere")
    elsewhere["serviceUrl"] = "https://smba.trafficmanager.net/emea/"
    assert (await bot.post(elsewhere, headers=good)).status_code == 401
    assert recorder.calls == []
    assert await _trace(bot, "a:shape") == (0, 0)
