"""OpenTelemetry export when the standard OTEL_* variables ask for it: spans reach a local OTLP
receiver over HTTP/protobuf (decoded with OpenTelemetry's own proto classes), without personal
data; with no OTEL_* variable nothing is traced."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bot import tracing
from bot.store.watched import WatchedSenders
from tests.helpers import Recorder, activity

UPN_PART = "@contoso"


class Receiver:
    """An OTLP/HTTP collector on loopback, in a thread of its own (the exporter blocks)."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                received.requests.append(message)
                received.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[Any, Any]]:
        """(resource, span) for every span received."""
        return [
            (rs.resource, span)
            for request in self.requests
            for rs in request.resource_spans
            for scope in rs.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def _attributes(item: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for kv in item.attributes:
        value = kv.value
        values[kv.key] = value.string_value or value.int_value
    return values


async def test_requests_and_calls_to_microsoft_are_exported_as_spans(
    start_bot: Any, recorder: Recorder, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    bot = await start_bot(
        DEMO_RESTRICT_AFTER_SECONDS="0", ALERT_POLL_SECONDS="3600", LIST_FRESH_SECONDS="0"
    )
    assert tracing.active is not None
    # The watcher's first read of the list first: a read already under way is shared, and
    # its calls belong to the watcher's trace, not the request's.
    watched = WatchedSenders(bot.runtime.engine)
    deadline = time.monotonic() + 10
    while not await watched.baseline_taken():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    answer = await bot.post(activity("who is blocked", service_url=recorder.url))
    assert answer.status_code == 201  # a message is answered with 201 (the reply went out)
    await bot.client.aclose()
    await bot.server.close()  # the app's shutdown flushes the exporter
    assert tracing.active is None
    assert receiver.paths
    assert set(receiver.paths) == {"/v1/traces"}
    spans = receiver.spans()
    resource = _attributes(spans[0][0])
    assert resource["service.name"] == "blockwatch"
    assert resource["deployment.environment"] == "test"
    (server,) = [span for _, span in spans if span.name == "POST /api/messages"]
    assert _attributes(server)["http.response.status_code"] == 201
    assert _attributes(server)["blockwatch.correlation_id"]
    # The calls made while answering are the request's children (the live read of the list
    # from Exchange; the names came from the cache the watcher's first poll filled).
    children = [span for _, span in spans if span.parent_span_id == server.span_id]
    assert {span.trace_id for span in children} == {server.trace_id}
    exchange = [span for span in children if span.name == "POST exchange"]
    assert exchange
    assert _attributes(exchange[0])["http.response.status_code"] == 200
    assert _attributes(exchange[0])["microsoft.client_request_id"]
    assert any(span.name.endswith(" graph") for _, span in spans)
    for _, span in spans:
        assert all(UPN_PART not in str(v) for v in _attributes(span).values()), span.name


async def test_tracing_is_off_without_otel_variables_and_when_disabled() -> None:
    assert tracing.from_environment({}) is None
    assert tracing.from_environment({"OTEL_SERVICE_NAME": "x"}) is None
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert tracing.from_environment(endpoint | {"OTEL_SDK_DISABLED": "true"}) is None
    assert tracing.from_environment(endpoint | {"OTEL_TRACES_EXPORTER": "none"}) is None
    on = tracing.from_environment({"OTEL_TRACES_EXPORTER": "otlp"})
    assert on is not None
    await on.shutdown()
