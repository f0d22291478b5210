"""The eventing spans (PRODUCER / CONSUMER around the trigger topic) and httpx CLIENT spans: one trace
from the request that publishes a trigger event to the run started where it is consumed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from knflow_control_plane.observability._otel import Tracing, _Ids
from knflow_eventing import make_event


def tracing() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=_Ids())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


def test_the_consume_span_is_a_child_of_the_producer_span_through_the_event() -> None:
    traced, exporter = tracing()
    with (
        traced.tracer.start_as_current_span("POST /hooks/{path:path}"),
        traced.produce("knflow.triggers", "run-1", "run-1"),
    ):
        traceparent = traced.current_traceparent()
    assert traceparent is not None
    event = make_event("dev.knflow.trigger.http", "/hooks/x", {}, id="run-1", extensions={"traceparent": traceparent})
    with traced.consume(event, "knflow.triggers"):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request, send, process = (
        spans["POST /hooks/{path:path}"],
        spans["send knflow.triggers"],
        spans["process knflow.triggers"],
    )
    assert send.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert send.parent is not None and send.parent.span_id == request.context.span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == request.context.trace_id
    assert request.attributes is not None and request.attributes["knflow.run_id"] == "run-1"
    assert process.attributes is not None and process.attributes["cloudevents.event_id"] == "run-1"
    assert process.attributes["messaging.destination.name"] == "knflow.triggers"


@pytest.fixture
def echo_server() -> Iterator[str]:
    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen["traceparent"] = self.headers.get("traceparent", "")
            body = seen["traceparent"].encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_httpx_requests_become_client_spans_carrying_the_trace(echo_server: str) -> None:
    traced, exporter = tracing()
    traced.instrument_httpx()
    try:
        with traced.tracer.start_as_current_span("parent") as parent:
            sent = httpx.get(echo_server).text
    finally:
        HTTPXClientInstrumentor().uninstrument()
    [client] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert client.parent is not None and client.parent.span_id == parent.get_span_context().span_id
    assert sent == f"00-{client.context.trace_id:032x}-{client.context.span_id:016x}-01"
