"""Tracing of invocations with OpenTelemetry: a server span per invocation, parented by ``traceparent``.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_TRACES_EXPORTER`` is set: then, and only then, the OpenTelemetry SDK is imported (this module
itself imports nothing but the standard library, so a cold start without those variables never pays for
the SDK). The rest follows the standard ``OTEL_*`` variables: ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*`` for batching, ``OTEL_EXPORTER_OTLP_*`` for the exporter.

The control plane builds its tracer provider with :func:`make_provider` too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    from knflow import ActionDefinition

    from .contract import Invocation, Result

log = logging.getLogger("knflow_runtime.tracing")

#: Any of these set (and not disabled) turns tracing on.
SWITCHES: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER")


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether spans are to be exported: an exporter variable is set, and neither
    ``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none`` says otherwise."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in SWITCHES)


def make_provider(
    environ: Mapping[str, str], attributes: Mapping[str, Any], id_generator: IdGenerator | None = None
) -> TracerProvider:
    """A tracer provider exporting in batches to the exporters ``OTEL_TRACES_EXPORTER`` names.

    ``otlp`` (the default) is OTLP over HTTP/protobuf, configured by ``OTEL_EXPORTER_OTLP_*``;
    ``console`` prints spans to stdout. The OTLP exporter (``requests`` and protobuf: most of the
    SDK's import time) is imported by the batch processor's thread on its first export, not here, so
    that a cold start does not wait for it.

    Args:
        environ: the environment (read for ``OTEL_TRACES_EXPORTER``; the SDK reads the rest itself).
        attributes: resource attributes (``service.name``...); ``OTEL_SERVICE_NAME`` and
            ``OTEL_RESOURCE_ATTRIBUTES`` are merged by the SDK.
        id_generator: how trace and span ids are made (the SDK's random one by default).
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create(dict(attributes)), id_generator=id_generator)
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    for name in names or ["otlp"]:
        exporter: SpanExporter
        if name == "otlp":
            if environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") != "http/protobuf":
                log.warning("only OTLP over http/protobuf is installed; exporting with it")
            exporter = _deferred_otlp()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (expected otlp or console)", name)
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _deferred_otlp() -> SpanExporter:
    """An OTLP/HTTP exporter made (imported) on the first export, in the batch processor's thread."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class DeferredOtlp(SpanExporter):
        def __init__(self) -> None:
            self._exporter: SpanExporter | None = None
            self._lock = threading.Lock()

        def _target(self) -> SpanExporter:
            with self._lock:
                if self._exporter is None:
                    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                    self._exporter = OTLPSpanExporter()
                return self._exporter

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return self._target().export(spans)

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return self._exporter.force_flush(timeout_millis) if self._exporter is not None else True

        def shutdown(self) -> None:
            if self._exporter is not None:
                self._exporter.shutdown()

    return DeferredOtlp()


class HandlerTracing:
    """Makes the ``handler`` span of each invocation (a SERVER span named after the action).

    Build it with :func:`from_env`; the span's parent is the ``traceparent`` the invocation carries (the
    control plane's ``invoke`` span), so the function's spans join the run's trace.
    """

    def __init__(self, action: ActionDefinition[..., Any], provider: TracerProvider):
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.action = action
        self.provider = provider
        self._tracer = provider.get_tracer("knflow_runtime")
        self._propagator = TraceContextTextMapPropagator()
        self._cold = True

    async def traced(self, invocation: Invocation, run: Callable[[], Awaitable[Result]]) -> Result:
        """Run one invocation (``run``) inside its span; an error result marks the span as failed."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {"traceparent": invocation.traceparent} if invocation.traceparent else {}
        attributes: dict[str, Any] = {
            "faas.trigger": "http",
            "faas.invocation_id": invocation.invoke_id,
            "faas.coldstart": self._cold,
            "cloudevents.event_id": invocation.invoke_id,
            "cloudevents.event_type": "dev.knflow.step.invoke",
            "cloudevents.event_source": f"/runs/{invocation.run_id}",
            "cloudevents.event_subject": invocation.step,
            "cloudevents.event_spec_version": "1.0",
            "knflow.run_id": invocation.run_id,
            "knflow.step": invocation.step,
            "knflow.attempt": invocation.attempt,
        }
        self._cold = False
        with self._tracer.start_as_current_span(
            self.action.name,
            context=self._propagator.extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=True,
        ) as span:
            result = await run()
            error = result.get("error")
            if isinstance(error, dict):
                span.set_attribute("error.type", str(error.get("type")))
                span.set_status(Status(StatusCode.ERROR, f"{error.get('type')}: {error.get('message')}"))
            return result

    def shutdown(self) -> None:
        """Export the spans still batched (called once the process has drained)."""
        self.provider.shutdown()


def from_env(environ: Mapping[str, str], action: ActionDefinition[..., Any]) -> HandlerTracing | None:
    """The tracing of ``action``'s invocations, or None when tracing is off (nothing is imported then).

    A missing SDK is reported on stderr and leaves tracing off: install ``knflow-runtime[otel]``.
    """
    if not enabled(environ):
        return None
    try:
        provider = make_provider(environ, {"service.name": action.name, "faas.name": action.name})
    except ImportError as exc:
        log.warning("OTEL_* tracing variables are set but OpenTelemetry is not installed (%s): not tracing", exc)
        return None
    return HandlerTracing(action, provider)
