"""The simulated tenant's HTTP server: Exchange `InvokeCommand`, Graph v1.0 and test controls."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sim.exchange import run_cmdlet
from bot.sim.graph import GRAPH_ROOT, GraphRequest, batch, dispatch
from bot.sim.state import TenantState, reason_text
from bot.sim.wire import SimFailure, SimReply, exchange_error, graph_error, max_page_size, page

EXCHANGE_ROOT = "/adminapi/beta"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator answered, for tests that assert on what reached the tenant."""

    at: float
    method: str
    path: str
    service: str
    operation: str
    status: int


@dataclass
class SimContext:
    """What the simulator's handlers share: state, accepted tokens and the request log."""

    state: TenantState
    tokens: set[str]
    log: list[RecordedRequest] = field(default_factory=list)


SIM: web.AppKey[SimContext] = web.AppKey("sim", SimContext)


def _json(reply: SimReply) -> web.Response:
    return web.json_response(reply.body, status=reply.status, headers=reply.headers)


def _authorised(request: web.Request, ctx: SimContext) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and token in ctx.tokens


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def invoke_command(request: web.Request) -> web.Response:
    """`POST /adminapi/beta/{tenant}/InvokeCommand`, paged by re-POSTing to the nextLink."""
    ctx = request.app[SIM]
    state = ctx.state
    operation = "?"
    try:
        if not _authorised(request, ctx):
            raise exchange_error(401, "Unauthorized", "The access token is missing or invalid.")
        if request.match_info["tenant"].lower() not in (state.tenant_id, state.domain.lower()):
            raise exchange_error(404, "NotFound", "The tenant could not be found.")
        body = await _body(request)
        operation, rows = run_cmdlet(state, body)
    except SimFailure as failure:
        _record(ctx, request, "exchange", operation, failure.reply.status)
        return _json(failure.reply)
    size = max_page_size(request.headers.get("Prefer"), state.page_size)
    skip = int(request.query.get("$skiptoken", "0") or 0)
    base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
    root = f"{base}{EXCHANGE_ROOT}/{request.match_info['tenant']}"
    reply = page(
        rows,
        skip=skip,
        size=size,
        next_url=f"{root}/InvokeCommand?$skiptoken={{skip}}",
        context=f"{root}/$metadata#Collection(Exchange.GenericHashTable)",
    )
    _record(ctx, request, "exchange", operation, 200)
    return web.json_response(reply)


async def graph(request: web.Request) -> web.Response:
    """Any Graph v1.0 request: routed by the same table `$batch` uses."""
    ctx = request.app[SIM]
    path = "/" + request.match_info["tail"]
    base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
    if not _authorised(request, ctx):
        reply = graph_error(401, "InvalidAuthenticationToken", "Access token is empty.").reply
    elif path == "/$batch" and request.method == "POST":
        reply = batch(ctx.state, await _body(request), base)
    else:
        query = dict(request.query)
        body = await _body(request) if request.can_read_body else None
        reply = dispatch(ctx.state, GraphRequest(request.method, path, query, body, base))
    _record(ctx, request, "graph", f"{request.method} {path}", reply.status)
    return _json(reply)


async def sim_restrict(request: web.Request) -> web.Response:
    """`POST /_sim/restrict {"upn", "limit"?}`: Exchange restricts a user now."""
    ctx = request.app[SIM]
    body = await _body(request) or {}
    upn = body.get("upn") if isinstance(body, dict) else None
    if not isinstance(upn, str) or ctx.state.user(upn) is None:
        return web.json_response({"error": "body must name an existing user's upn"}, status=400)
    entry = ctx.state.restrict(upn, reason_text(str(body.get("limit", "External")), 3, 812))
    return web.json_response(entry.exchange())


async def sim_requests(request: web.Request) -> web.Response:
    """`GET /_sim/requests`: the request log (method, path, operation, status, time)."""
    return web.json_response([vars(r) for r in request.app[SIM].log])


def _record(ctx: SimContext, request: web.Request, service: str, op: str, status: int) -> None:
    ctx.log.append(
        RecordedRequest(time.monotonic(), request.method, request.path, service, op, status)
    )


def build_sim_app(state: TenantState, tokens: set[str]) -> web.Application:
    """The simulated tenant as an aiohttp application."""
    app = web.Application()
    app[SIM] = SimContext(state=state, tokens=tokens)
    app.router.add_post(EXCHANGE_ROOT + "/{tenant}/InvokeCommand", invoke_command)
    app.router.add_route("*", GRAPH_ROOT + "/{tail:.+}", graph)
    app.router.add_post("/_sim/restrict", sim_restrict)
    app.router.add_get("/_sim/requests", sim_requests)
    return app


class SimulatedTenant:
    """Runs the simulated tenant on a loopback port inside the current event loop."""

    def __init__(self, state: TenantState, *, token: str | None = None) -> None:
        self.state = state
        self.token = token or secrets.token_urlsafe(24)
        self.app = build_sim_app(state, {self.token})
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far."""
        return self.app[SIM].log

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0 = any free port) and return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://{host}:{bound}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
