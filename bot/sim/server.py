"""The simulated tenant's HTTP server.

    /login/{tenant}/v2.0/.well-known/openid-configuration   Entra ID discovery (for msal)
    /login/{tenant}/oauth2/v2.0/token                       client credentials → signed JWT
    /graph/v1.0/...                                         Microsoft Graph (and $batch)
    /exchange/adminapi/beta/{tenant}/InvokeCommand          Exchange Online cmdlets
    /_sim/...                                               test controls (restrict, faults, log)

Graph and Exchange sit under different roots so their tokens have different audiences, as in
Microsoft 365. With `tls=True` it serves HTTPS with a CA it generates (msal requires https).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.sim.exchange import UNBLOCK_LIMIT_MESSAGE, cmdlet_name, run_cmdlet
from bot.sim.faults import KINDS, Fault, Faults
from bot.sim.graph import GRAPH_ROOT, GraphRequest, batch, dispatch, licence_error
from bot.sim.identity import Identity, TokenError
from bot.sim.state import TenantState, reason_text
from bot.sim.tls import LocalTls, make_local_tls
from bot.sim.wire import SimFailure, SimReply, exchange_error, graph_error, max_page_size, page

EXCHANGE_ROOT = "/exchange/adminapi/beta"


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
    """What the simulator's handlers share."""

    state: TenantState
    identity: Identity
    faults: Faults = field(default_factory=Faults)
    log: list[RecordedRequest] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)
    identity_header: str = field(default_factory=lambda: secrets.token_urlsafe(16))


SIM: web.AppKey[SimContext] = web.AppKey("sim", SimContext)


def _json(reply: SimReply) -> web.Response:
    if reply.raw is not None:
        return web.Response(status=reply.status, headers=reply.headers, body=reply.raw)
    if reply.body is None:
        return web.Response(status=reply.status, headers=reply.headers)
    return web.json_response(reply.body, status=reply.status, headers=reply.headers)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _base(request: web.Request) -> str:
    return f"{request.url.scheme}://{request.url.host}:{request.url.port}"


def _record(ctx: SimContext, request: web.Request, service: str, op: str, status: int) -> None:
    ctx.log.append(
        RecordedRequest(time.monotonic(), request.method, request.path, service, op, status)
    )


async def _fault(ctx: SimContext, route: str, service: str) -> SimReply | None:
    fault = ctx.faults.take(route)
    if fault is None:
        return None
    error = graph_error if service == "graph" else exchange_error
    if fault.kind == "latency":  # slow, then the call runs as usual
        await asyncio.sleep(fault.delay())
        return None
    if fault.kind == "hang":  # slow, then a gateway timeout: the call never ran
        await asyncio.sleep(fault.seconds)
        return error(504, "GatewayTimeout", "The operation timed out.").reply
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
    if fault.kind == "throttle":
        reply = error(429, "TooManyRequests", "Too many requests; retry later.").reply
    elif fault.kind == "unavailable":
        reply = error(503, "ServiceUnavailable", "The service is temporarily unavailable.").reply
    elif fault.kind == "licence":
        reply = licence_error("AAD_PREMIUM_P2").reply
    else:
        reply = exchange_error(
            400, "BadRequest", UNBLOCK_LIMIT_MESSAGE.format(sender="this sender")
        ).reply
    reply.headers.update(headers)
    return reply


@web.middleware
async def _request_ids(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every answer names itself as Graph's do: a `request-id` of its own, the caller's
    `client-request-id` echoed [D], and for Graph where it was served (`x-ms-ags-diagnostic`,
    the shape Graph sends) [D]; Exchange's admin API sends `request-id` too [guess]."""
    response: web.StreamResponse = await handler(request)
    response.headers["request-id"] = str(uuid.uuid4())
    if client := request.headers.get("client-request-id"):
        response.headers["client-request-id"] = client[:64]
    if request.path.startswith("/graph"):
        response.headers["x-ms-ags-diagnostic"] = (
            '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5",'
            '"ScaleUnit":"001","RoleInstance":"AM1PEPF00000000"}}'
        )
    return response


async def openid_configuration(request: web.Request) -> web.Response:
    """Entra ID's discovery document for the tenant."""
    root = f"{_base(request)}/login/{request.match_info['tenant']}"
    return web.json_response(
        {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "tenant_region_scope": "EU",
        }
    )


async def managed_identity_token(request: web.Request) -> web.Response:
    """A managed identity's token endpoint, in both protocols msal speaks: App Service and
    Container Apps (`IDENTITY_ENDPOINT`, header `X-IDENTITY-HEADER`, answer with `expires_on`)
    and the VM's IMDS (`/metadata/identity/oauth2/token`, header `Metadata: true`)."""
    ctx = request.app[SIM]
    imds = request.path.startswith("/metadata/")
    header_ok = (
        request.headers.get("Metadata") == "true"
        if imds
        else secrets.compare_digest(
            request.headers.get("X-IDENTITY-HEADER", ""), ctx.identity_header
        )
    )
    if not header_ok:
        _record(ctx, request, "identity", "managed-identity", 401)
        return web.json_response({"statusCode": 401, "message": "Unauthorized"}, status=401)
    query = request.query
    try:
        answer = ctx.identity.issue_managed(
            query.get("resource", ""), query.get("client_id"), resources=ctx.resources
        )
    except TokenError as err:
        _record(ctx, request, "identity", "managed-identity", err.status)
        body = (  # IMDS answers in OAuth's form, App Service in its own
            {"error": err.code, "error_description": err.description}
            if imds
            else {"statusCode": err.status, "message": err.description}
        )
        return web.json_response(body, status=err.status)
    _record(ctx, request, "identity", "managed-identity", 200)
    if imds:
        answer.pop("expires_on")
    else:
        answer.pop("expires_in")
    return web.json_response(answer)


async def token(request: web.Request) -> web.Response:
    """The client-credentials grant."""
    ctx = request.app[SIM]
    form = {k: str(v) for k, v in (await request.post()).items()}
    try:
        answer = ctx.identity.issue(form, resources=ctx.resources)
    except TokenError as err:
        _record(ctx, request, "identity", "token", err.status)
        return web.json_response(
            {
                "error": err.code,
                "error_description": err.description,
                "error_codes": [
                    int(err.description[6:13]) if err.description[6:13].isdigit() else 0
                ],
            },
            status=err.status,
        )
    _record(ctx, request, "identity", "token", 200)
    return web.json_response(answer)


async def invoke_command(request: web.Request) -> web.Response:
    """`POST /adminapi/beta/{tenant}/InvokeCommand`, paged by re-POSTing to the nextLink."""
    ctx = request.app[SIM]
    state = ctx.state
    body = await _body(request)
    operation = cmdlet_name(body)
    try:
        roles = ctx.identity.roles(
            request.headers.get("Authorization", ""), ctx.resources["exchange"]
        )
        if roles is None:
            raise exchange_error(401, "Unauthorized", "The access token is missing or invalid.")
        if "Exchange.ManageAsApp" not in roles:  # no grant at all: 401 [C]
            raise exchange_error(
                401,
                "Unauthorized",
                f"The application {state.app.client_id} has not been granted Exchange.ManageAsApp.",
            )
        if request.match_info["tenant"].lower() not in (state.tenant_id, state.domain.lower()):
            raise exchange_error(404, "NotFound", "The tenant could not be found.")
        injected = await _fault(ctx, operation, "exchange")
        if injected is not None:
            raise SimFailure(injected)
        operation, rows = run_cmdlet(state, body, request.headers.get("X-AnchorMailbox", ""))
    except SimFailure as failure:
        _record(ctx, request, "exchange", operation, failure.reply.status)
        return _json(failure.reply)
    size = max_page_size(request.headers.get("Prefer"), state.page_size)
    skip = int(request.query.get("$skiptoken", "0") or 0)
    root = f"{_base(request)}{EXCHANGE_ROOT}/{request.match_info['tenant']}"
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
    base = f"{_base(request)}/graph"
    roles = ctx.identity.roles(request.headers.get("Authorization", ""), ctx.resources["graph"])

    async def fault(route: str, service: str) -> SimReply | None:
        return await _fault(ctx, route, service)

    if roles is None:
        reply = graph_error(401, "InvalidAuthenticationToken", "Access token is empty.").reply
    elif path == "/$batch" and request.method == "POST":
        reply = await batch(ctx.state, await _body(request), base, frozenset(roles), fault)
    else:
        body = await _body(request) if request.can_read_body else None
        inner = GraphRequest(
            request.method, path, dict(request.query), body, base, frozenset(roles)
        )
        reply = await dispatch(ctx.state, inner, fault)
    _record(ctx, request, "graph", f"{request.method} {path}", reply.status)
    return _json(reply)


async def sim_restrict(request: web.Request) -> web.Response:
    """`POST /_sim/restrict {"upn", "limit"?, "again"?}`: Exchange restricts a user now (with
    `again`, a listed user is restricted anew: a new entry with a new creation time)."""
    ctx = request.app[SIM]
    body = await _body(request) or {}
    upn = body.get("upn") if isinstance(body, dict) else None
    if not isinstance(upn, str) or ctx.state.user(upn) is None:
        return web.json_response({"error": "body must name an existing user's upn"}, status=400)
    if body.get("again") and (listed := ctx.state.block(upn)) is not None:
        ctx.state.blocks.remove(listed)  # a new restriction, not the old one changed
    entry = ctx.state.restrict(upn, reason_text(str(body.get("limit", "External")), 3, 812))
    return web.json_response(entry.exchange())


async def sim_faults(request: web.Request) -> web.Response:
    """`POST /_sim/faults {"route", "kind", "times"?, "seconds"?, "upto"?, "retry_after"?}`
    (`upto`: a latency drawn between `seconds` and it).

    DELETE clears every fault.
    """
    ctx = request.app[SIM]
    if request.method == "DELETE":
        ctx.faults.clear()
        return web.json_response({"cleared": True})
    body = await _body(request)
    if not isinstance(body, dict) or body.get("kind") not in KINDS or not body.get("route"):
        return web.json_response({"error": f"need route and kind (one of {KINDS})"}, status=400)
    ctx.faults.add(
        str(body["route"]),
        Fault(
            body["kind"],
            int(body.get("times", 1)),
            float(body.get("seconds", 0)),
            body.get("retry_after"),
            float(body.get("upto", 0)),
        ),
    )
    return web.json_response({"queued": True})


async def sim_requests(request: web.Request) -> web.Response:
    """`GET /_sim/requests`: the request log."""
    return web.json_response([vars(r) for r in request.app[SIM].log])


class SimulatedTenant:
    """Runs the simulated tenant on a loopback port inside the current event loop."""

    def __init__(
        self, state: TenantState, *, tls: bool = False, workdir: Path | None = None
    ) -> None:
        self.state = state
        self.identity = Identity(state.tenant_id, state.app)
        self.context = SimContext(state, self.identity)
        self.app = web.Application(middlewares=[_request_ids])
        self.app[SIM] = self.context
        self.app.router.add_get(
            "/login/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration
        )
        self.app.router.add_post("/login/{tenant}/oauth2/v2.0/token", token)
        self.app.router.add_get("/msi/token", managed_identity_token)
        self.app.router.add_get("/metadata/identity/oauth2/token", managed_identity_token)
        self.app.router.add_post(EXCHANGE_ROOT + "/{tenant}/InvokeCommand", invoke_command)
        self.app.router.add_route("*", "/graph" + GRAPH_ROOT + "/{tail:.+}", graph)
        self.app.router.add_post("/_sim/restrict", sim_restrict)
        self.app.router.add_route("*", "/_sim/faults", sim_faults)
        self.app.router.add_get("/_sim/requests", sim_requests)
        self._tls: LocalTls | None = None
        self._tls_dir = workdir
        self._use_tls = tls
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def tenant_id(self) -> str:
        """The simulated tenant's id (TENANT_ID)."""
        return self.state.tenant_id

    @property
    def client_id(self) -> str:
        """The simulated app registration's id (CLIENT_ID)."""
        return self.state.app.client_id

    def new_client_secret(self) -> str:
        """Give the app registration a fresh client secret (CLIENT_SECRET) and return it."""
        self.state.app.secret = secrets.token_urlsafe(24)
        return self.state.app.secret

    @property
    def managed_identity_env(self) -> dict[str, str]:
        """The variables Azure App Service and Container Apps set for a managed identity,
        pointing at this simulator (msal reads them)."""
        return {
            "IDENTITY_ENDPOINT": f"{self.base_url}/msi/token",
            "IDENTITY_HEADER": self.context.identity_header,
        }

    def restrict_someone(self, preferred: str = "") -> str | None:
        """Exchange restricts one more user (one whose UPN starts with `preferred` if there is
        one), as the demo does a minute after start; returns the UPN, None if all are."""
        restricted = {b.sender.lower() for b in self.state.blocks}
        candidates = [u for u in self.state.users if u.upn.lower() not in restricted]
        chosen = [u for u in candidates if u.upn.startswith(preferred)] or candidates
        if not chosen:
            return None
        self.state.restrict(chosen[0].upn, reason_text("External", 2, 637))
        return chosen[0].upn

    @property
    def graph_url(self) -> str:
        """GRAPH_BASE_URL for this tenant."""
        return f"{self.base_url}/graph"

    @property
    def exchange_url(self) -> str:
        """EXCHANGE_BASE_URL for this tenant."""
        return f"{self.base_url}/exchange"

    @property
    def authority_url(self) -> str:
        """AUTHORITY_URL for this tenant (msal uses {AUTHORITY_URL}/{TENANT_ID})."""
        return f"{self.base_url}/login"

    @property
    def ca_file(self) -> Path | None:
        """The CA to trust (SSL_CERT_FILE / REQUESTS_CA_BUNDLE) when serving TLS."""
        return self._tls.ca_file if self._tls else None

    @property
    def faults(self) -> Faults:
        """Queue faults per route (Exchange cmdlet or Graph route name)."""
        return self.context.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far."""
        return self.context.log

    def tokens(self) -> SimTokens:
        """A token provider handing out the tokens the app would get (demo shortcut, no msal)."""
        return SimTokens(self)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0 = any free port) and return the base URL."""
        ssl_context = None
        if self._use_tls:
            if self._tls_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="blockwatch-sim-")
                self._tls_dir = Path(self._tmp.name)
            self._tls = make_local_tls(self._tls_dir)
            ssl_context = self._tls.server_context()
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        scheme = "https" if ssl_context else "http"
        self.base_url = f"{scheme}://{'localhost' if ssl_context else host}:{bound}"
        self.context.resources = {"graph": self.graph_url, "exchange": self.exchange_url}
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            # Abort open connections: a graceful TLS shutdown waits for the client's
            # close_notify and can outlive the event loop that runs this simulator.
            server = self._runner.server
            for handler in list(server.connections) if server else []:
                if handler.transport is not None:
                    handler.transport.abort()
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class SimTokens:
    """A `TokenProvider` that mints the simulated app's tokens directly (no msal, no TLS)."""

    def __init__(self, sim: SimulatedTenant) -> None:
        self._sim = sim
        self.minted = 0

    async def token(self, resource: str) -> str:
        """A token for the Graph or Exchange root of the simulated tenant."""
        app = self._sim.state.app
        roles = app.graph_roles if resource == self._sim.graph_url else app.exchange_roles
        self.minted += 1
        return self._sim.identity.mint(resource, set(roles))

    def invalidate(self, resource: str) -> None:
        """Nothing is cached."""
