"""Traces to an OpenTelemetry collector, only when the standard `OTEL_*` variables ask for one.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (or
`OTEL_TRACES_EXPORTER=otlp`); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep it
off. The exporter is OTLP over HTTP/protobuf and reads its own standard variables (endpoint,
headers, timeout, compression); the resource reads `OTEL_SERVICE_NAME` and
`OTEL_RESOURCE_ATTRIBUTES` (service.name defaults to "blockwatch").

Spans: one per request to BlockWatch (server) and one per call to Microsoft (client). Like the
metrics they carry no personal data: routes, methods, services and status codes, Microsoft's
request id and our correlation id, never a URL path with an address in it. Off, nothing here
runs on any request.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from bot.tenant.request_ids import service_of

log = logging.getLogger(__name__)

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """The process's tracer and the provider that batches and exports its spans."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self.tracer: Tracer = provider.get_tracer("blockwatch")

    async def shutdown(self) -> None:
        """Export what is left (in a thread: the exporter blocks) and stop."""
        await asyncio.to_thread(self._provider.shutdown)


# The process's tracing, set while the app runs (None: off, the default).
active: Tracing | None = None


def from_environment(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """Tracing as the OTEL_* variables ask for it, or None when they do not."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")}
    if "none" in exporters:
        return None
    if not any(environ.get(name) for name in ENDPOINTS) and "otlp" not in exporters:
        return None
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf":
        log.warning(
            "OpenTelemetry: only the http/protobuf protocol is installed; using it",
            extra={"asked_for": protocol[:32]},
        )
    attributes: dict[str, str] = {"service.version": _version()}
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    if not named:
        attributes["service.name"] = "blockwatch"
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("OpenTelemetry traces on")
    return Tracing(provider)


def _version() -> str:
    try:
        return version("blockwatch")
    except PackageNotFoundError:
        return "unknown"


class TracedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that wraps every call to Microsoft in a client span."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, with a span named by method and service (never the path)."""
        service = service_of(request)
        with self._tracer.start_as_current_span(
            f"{request.method} {service}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "server.address": request.url.host,
                "blockwatch.service": service,
            },
        ) as span:
            response = await self._inner.handle_async_request(request)
            span.set_attribute("http.response.status_code", response.status_code)
            for header in ("request-id", "client-request-id"):
                if value := response.headers.get(header) or request.headers.get(header):
                    span.set_attribute(f"microsoft.{header.replace('-', '_')}", value[:64])
            if response.status_code >= 400:
                span.set_status(StatusCode.ERROR)
            return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
