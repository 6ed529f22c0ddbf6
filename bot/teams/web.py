"""HTTP routes: `/api/messages` (Bot Framework), `/healthz` (liveness), `/readyz` (readiness)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, StatusCode, set_span_in_context

from bot import metrics, tracing, untrusted
from bot.logs import correlation_id

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


class ActivityEndpoint(Protocol):
    """Processes one Bot Framework activity (implemented by bot.teams.endpoint.TeamsEndpoint)."""

    def accepts_host(self, host: str) -> bool:
        """Whether a request naming `host` in its Host header is served (with inbound
        authentication off, only loopback names: a web page could rebind any other to us)."""
        ...

    async def identify(self, auth_header: str) -> bool:
        """Whether the caller proved who it is (always, when no bot identity is set)."""
        ...

    async def handle(self, body: dict[str, Any], auth_header: str) -> tuple[int, Any]:
        """Return the HTTP status and JSON body for this activity."""
        ...


@dataclass(frozen=True)
class ReadinessCheck:
    """A named check that /readyz runs; `probe` raises or returns False when not ready."""

    name: str
    probe: Callable[[], Awaitable[bool]]


ENDPOINT: web.AppKey[ActivityEndpoint] = web.AppKey("endpoint", ActivityEndpoint)
CHECKS: web.AppKey[list[ReadinessCheck]] = web.AppKey("checks", list)


def _refuse(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


async def messages(request: web.Request) -> web.Response:
    """`POST /api/messages`: one activity from Teams (or the Agents Playground). Each check has
    one answer, in this order: size (413), with inbound authentication off a loopback Host
    (403), identity when a bot identity is set (401), content type (415), bounded JSON (400);
    the endpoint then checks the activity's shape (400)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _refuse(413, "request body too large")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(413, "request body too large")
    endpoint = request.app[ENDPOINT]
    if not endpoint.accepts_host(request.headers.get("Host", "")):
        log.warning("refused a request for another host", extra={"host": request.host[:100]})
        return _refuse(403, "with inbound authentication off, only loopback Host names are served")
    auth_header = request.headers.get("Authorization", "")
    if not await endpoint.identify(auth_header):
        return _refuse(401, "unauthorized")
    if request.content_type != "application/json":
        return _refuse(415, "Content-Type must be application/json")
    if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        return _refuse(415, "the request body must be UTF-8")
    try:
        body = untrusted.parse(raw)
    except untrusted.NotJson as err:
        return _refuse(400, f"request body is not valid JSON: {err.reason}")
    if not isinstance(body, dict):
        return _refuse(400, "an activity must be a JSON object")
    status, payload = await endpoint.handle(body, auth_header)
    if payload is None:
        return web.Response(status=status)
    return web.json_response(payload, status=status)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: what this replica can fix answers (the database, its schema at head); not
    Microsoft's services, whose outage every replica shares."""
    results: dict[str, str] = {}
    for check in request.app[CHECKS]:
        try:
            ok = await asyncio.wait_for(check.probe(), timeout=5)
        except Exception as err:
            log.warning("readiness check failed", extra={"check": check.name, "error": repr(err)})
            ok = False
        results[check.name] = "ok" if ok else "failing"
    ready = all(v == "ok" for v in results.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": results},
        status=200 if ready else 503,
    )


async def prometheus(request: web.Request) -> web.Response:
    """`GET /metrics`: counters, histograms and gauges in the Prometheus text format."""
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Never answer with a traceback: unexpected errors become a logged 500 with a JSON body."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return web.json_response({"error": "internal error"}, status=500)


@web.middleware
async def access_log(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One line per request in the JSON log: method, path, status, duration and the turn's
    correlation id (the same id the error cards show)."""
    started = time.perf_counter()
    correlation_id.set("")
    status = 500
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "other"
    span = _server_span(request.method, route)
    # Calls to Microsoft made while answering (and the background work started) are its
    # children: the span is in the context the handler runs in.
    entered = otel_context.attach(set_span_in_context(span)) if span is not None else None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as err:
        status = err.status
        raise
    finally:
        if span is not None:
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("blockwatch.correlation_id", correlation_id.get()[:64])
            if status >= 500:
                span.set_status(StatusCode.ERROR)
            span.end()
        if entered is not None:
            otel_context.detach(entered)
        metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path[:200],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },  # the JSON formatter adds the correlation id
        )


def _server_span(method: str, route: str) -> Span | None:
    """A server span for this request when OpenTelemetry is on (bot/tracing.py)."""
    if tracing.active is None:
        return None
    return tracing.active.tracer.start_span(
        f"{method} {route}",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    )


def build_web_app() -> web.Application:
    """The aiohttp application with routes and limits; compose fills in ENDPOINT and CHECKS."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[access_log, errors_as_json])
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    return app
