"""The OpenTelemetry side of tracing: imported only when tracing is on (``tracing.start_tracing``).

Spans: trigger (FastAPI's server span) -> ``run {workflow}`` -> ``step {step}`` (one per attempt) ->
``{action}`` (CLIENT, the invocation) -> ``{action}`` (SERVER, made by the function runtime), plus
``db`` spans under whatever is current when a statement runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Final

from cloudevents.core.v1.event import CloudEvent
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.engine import Engine

from knflow import wire
from knflow_runtime.tracing import make_provider

from ..domain.events import RUN_CANCELLED, RUN_FAILED, RUN_SUCCEEDED
from ..domain.model import AttemptStatus, Outcome
from ..domain.records import Claim, NewRun, Transition
from ..ports import HttpReply, RunReads
from . import _db_spans
from .tracing import run_span_id

log = logging.getLogger("knflow.tracing")

_RUN_ENDS: Final = {RUN_SUCCEEDED: "succeeded", RUN_FAILED: "failed", RUN_CANCELLED: "cancelled"}
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
#: Runs started here whose span is still to be exported, at most this many (the rest are looked up).
_KEEP_RUNS: Final = 10_000
#: (trace id, span id) the next span made in this context must have: the run span's are not random.
_forced: ContextVar[tuple[int, int] | None] = ContextVar("knflow_forced_span_ids", default=None)


class _Ids(IdGenerator):
    """Random ids, except where a span's ids are fixed in advance (the run span's)."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        forced = _forced.get()
        return forced[1] if forced else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        return forced[0] if forced else self._random.generate_trace_id()


def _remote(trace_id: int, span_id: int) -> otel_context.Context:
    return trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, span_id, True, _SAMPLED)))


@dataclass(frozen=True)
class _Run:
    """What the run span needs: its trace, its trigger (parent) span, when it started and what it runs."""

    run_id: str
    trace_id: int
    trigger_span_id: int | None
    start_ns: int
    workflow: str
    version: str


@dataclass(frozen=True)
class _Attempt:
    """An attempt's open span and the context token that made it current."""

    span: trace.Span
    token: object


class _Invoke:
    """The CLIENT span of one invocation (``ports.InvokeSpan``)."""

    def __init__(self, span: trace.Span):
        self.span = span
        ctx = span.get_span_context()
        self.traceparent: str | None = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"

    def reply(self, reply: HttpReply) -> None:
        self.span.set_attribute("http.response.status_code", reply.status)
        if reply.status >= 500:
            self.span.set_status(Status(StatusCode.ERROR, f"HTTP {reply.status}"))


class RunSpans:
    """The orchestrator's ``RunTracer`` (``ports``): run, attempt and invocation spans.

    Args:
        tracer: where spans are made.
        store: read when a run finishes whose start this replica did not see.
    """

    def __init__(self, tracer: trace.Tracer, store: RunReads):
        self.tracer = tracer
        self.store = store
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def adopt(self, new: NewRun) -> NewRun:
        """The run takes the trace id of the current (trigger) span; the trigger's span id is kept with it."""
        span = trace.get_current_span()
        ctx = span.get_span_context()
        if ctx.is_valid:
            span.set_attribute("knflow.run_id", new.run_id)
            span.set_attribute("knflow.workflow", new.workflow)
            trigger = {**new.trigger, "span_id": f"{ctx.span_id:016x}"}
            new = replace(new, trace_id=f"{ctx.trace_id:032x}", trigger=trigger)
        if new.trace_id:
            parent = int(ctx.span_id) if ctx.is_valid else None
            run = _Run(new.run_id, int(new.trace_id, 16), parent, time.time_ns(), new.workflow, new.workflow_version)
            self._runs[new.run_id] = run
            while len(self._runs) > _KEEP_RUNS:
                self._runs.popitem(last=False)
        return new

    def start_attempt(self, claim: Claim) -> object | None:
        """A ``step {name}`` span, child of the run span, current in the attempt's task until it ends."""
        if not claim.trace_id:
            return None
        parent = _remote(int(claim.trace_id, 16), int(run_span_id(claim.run_id), 16))
        span = self.tracer.start_span(
            f"step {claim.step}",
            context=parent,
            attributes={
                "knflow.run_id": claim.run_id,
                "knflow.step": claim.step,
                "knflow.attempt": claim.number,
                "knflow.action": claim.action,
                "knflow.action_version": claim.version,
            },
        )
        return _Attempt(span, otel_context.attach(trace.set_span_in_context(span)))

    def end_attempt(self, handle: object, outcome: Outcome | None) -> None:
        """End the attempt's span with its outcome."""
        assert isinstance(handle, _Attempt)
        span = handle.span
        if outcome is None:
            span.set_status(Status(StatusCode.ERROR, "the outcome could not be recorded"))
        else:
            span.set_attribute("knflow.attempt.status", outcome.status.value)
            if outcome.status is not AttemptStatus.SUCCEEDED:
                error = outcome.error or {}
                span.set_attribute("error.type", str(error.get("type") or outcome.status.value))
                span.set_status(Status(StatusCode.ERROR, str(error.get("message") or outcome.status.value)))
        span.end()
        with contextlib.suppress(ValueError):  # a context switched in between: the task ends anyway
            otel_context.detach(handle.token)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def invoke(self, claim: Claim) -> Iterator[_Invoke]:
        """The CLIENT span of the invocation (child of the current attempt span)."""
        event_id = wire.invoke_id(claim.run_id, claim.step, claim.number)
        attributes: dict[str, Any] = {
            "faas.invoked_name": claim.action,
            "faas.invoked_provider": "knflow",
            "http.request.method": "POST",
            "cloudevents.event_id": event_id,
            "cloudevents.event_type": wire.INVOKE,
            "cloudevents.event_source": wire.run_source(claim.run_id),
            "cloudevents.event_subject": claim.step,
            "cloudevents.event_spec_version": "1.0",
            "knflow.run_id": claim.run_id,
            "knflow.step": claim.step,
            "knflow.attempt": claim.number,
        }
        with self.tracer.start_as_current_span(claim.action, kind=SpanKind.CLIENT, attributes=attributes) as span:
            yield _Invoke(span)

    def run_finished(self, transition: Transition) -> None:
        """Export the run span when ``transition`` ended the run (looking the run up if it started elsewhere)."""
        end = next((e for e in transition.events if e.type in _RUN_ENDS), None)
        if end is None:
            return
        status, error = _RUN_ENDS[end.type], end.data.get("error")
        run = self._runs.pop(transition.run_id, None)
        if run is not None:
            self._export(run, status, error, time.time_ns())
            return
        task = asyncio.get_running_loop().create_task(self._look_up(transition.run_id, status, error))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_up(self, run_id: str, status: str, error: Any) -> None:
        try:
            view = await self.store.get_run(run_id)
        except Exception:  # a span is not worth an error in the orchestrator
            log.warning("could not read run %s to export its span", run_id, exc_info=True)
            return
        if view is None or not view.trace_id:
            return
        trigger = view.trigger.get("span_id") if isinstance(view.trigger, dict) else None
        run = _Run(
            run_id,
            int(view.trace_id, 16),
            int(trigger, 16) if isinstance(trigger, str) else None,
            int(view.created_at * 1e9),
            view.workflow,
            view.workflow_version,
        )
        self._export(run, status, error, int((view.finished_at or time.time()) * 1e9))

    def _export(self, run: _Run, status: str, error: Any, end_ns: int) -> None:
        parent = _remote(run.trace_id, run.trigger_span_id) if run.trigger_span_id else otel_context.Context()
        token = _forced.set((run.trace_id, int(run_span_id(run.run_id), 16)))
        try:
            span = self.tracer.start_span(
                f"run {run.workflow}",
                context=parent,
                start_time=run.start_ns,
                attributes={
                    "knflow.run_id": run.run_id,
                    "knflow.workflow": run.workflow,
                    "knflow.workflow_version": run.version,
                    "knflow.run.status": status,
                },
            )
        finally:
            _forced.reset(token)
        if status != "succeeded":
            message = error.get("message") if isinstance(error, dict) else None
            span.set_status(Status(StatusCode.ERROR, str(message or status)))
        span.end(end_time=max(end_ns, run.start_ns))


class Tracing:
    """The control plane's tracer provider and instrumentations.

    Args:
        provider: exports the spans (built by :meth:`from_env`).
    """

    def __init__(self, provider: TracerProvider):
        self.provider = provider
        self.tracer = provider.get_tracer("knflow.control_plane")
        #: ``messaging.system`` of consume spans: ``kafka``, or ``memory`` for the embedded bus
        self.messaging_system = "memory"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], service_name: str) -> Tracing:
        """Tracing configured by the standard ``OTEL_*`` variables."""
        return cls(make_provider(environ, {"service.name": service_name}, id_generator=_Ids()))

    def current_traceparent(self) -> str | None:
        """The W3C ``traceparent`` of the current span (a trigger event carries it), if any."""
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"

    @contextlib.contextmanager
    def produce(self, topic: str, event_id: str, run_id: str | None = None) -> Iterator[None]:
        """A PRODUCER span ``send {topic}`` (messaging semantic conventions); the event published inside
        it carries its ``traceparent``, so the consumer's span is its child. ``run_id``, when the event
        will start a known run (an HTTP trigger's), is set on the current (request) span too."""
        if run_id is not None:
            trace.get_current_span().set_attribute("knflow.run_id", run_id)
        attributes = {
            "messaging.system": self.messaging_system,
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
            "cloudevents.event_id": event_id,
            **({"knflow.run_id": run_id} if run_id is not None else {}),
        }
        with self.tracer.start_as_current_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes):
            yield

    @contextlib.contextmanager
    def consume(self, event: CloudEvent, topic: str) -> Iterator[None]:
        """A CONSUMER span ``process {topic}``, child of the event's ``traceparent`` (the CloudEvents
        distributed tracing extension); the run started inside it joins that trace."""
        traceparent = event.get_extension("traceparent")
        parent = (
            TraceContextTextMapPropagator().extract({"traceparent": traceparent})
            if isinstance(traceparent, str)
            else otel_context.Context()
        )
        attributes = {
            "messaging.system": self.messaging_system,
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.message.id": event.get_id(),
            "cloudevents.event_id": event.get_id(),
            "cloudevents.event_source": event.get_source(),
            "cloudevents.event_type": event.get_type(),
            "cloudevents.event_spec_version": "1.0",
        }
        subject = event.get_subject()
        if subject:
            attributes["cloudevents.event_subject"] = subject
        with self.tracer.start_as_current_span(
            f"process {topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ):
            yield

    def run_spans(self, store: RunReads) -> RunSpans:
        """The orchestrator's tracer."""
        return RunSpans(self.tracer, store)

    def instrument_app(self, app: Any) -> None:
        """Server spans for every request of the FastAPI ``app`` (a hook request is a run's trigger)."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls="/health/.*,/metrics",
            exclude_spans=["receive", "send"],
        )

    def instrument_httpx(self) -> None:
        """CLIENT spans for every httpx request (the Kubernetes API, Knative invocations, S3 health...),
        with the W3C ``traceparent`` injected. httpx is patched process-wide: once is enough."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        instrumentor = HTTPXClientInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=self.provider)

    def instrument_engine(self, engine: Engine) -> None:
        """``db`` client spans for each statement ``engine`` runs."""
        _db_spans.instrument(engine, self.tracer)

    def shutdown(self) -> None:
        """Export what is batched and stop."""
        self.provider.shutdown()
