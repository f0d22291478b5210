"""Run, attempt and invoke spans: one trace per run, parent links right across tasks and replicas."""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from knflow_control_plane.domain.events import RUN_FAILED, RUN_SUCCEEDED, LifecycleEvent
from knflow_control_plane.domain.model import Outcome, RunStatus
from knflow_control_plane.domain.records import Claim, NewRun, Transition
from knflow_control_plane.observability import run_span_id
from knflow_control_plane.observability._otel import Tracing, _Ids
from knflow_control_plane.ports import HttpReply

from .stubs import run_view, store


def tracing() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=_Ids())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


def new_run(run_id: str) -> NewRun:
    return NewRun(run_id, "default", "hello", "w1", {}, [], trigger={"kind": "http"}, trace_id="0" * 31 + "1")


def claim(run_id: str, trace_id: str | None, step: str = "greet") -> Claim:
    return Claim(f"{run_id}/{step}/1", run_id, step, 1, "shout", "v1", {}, 0.0, trace_id)


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_one_trace_from_the_trigger_to_the_invocation() -> None:
    t, exporter = tracing()
    _, run_store = store()
    spans = t.run_spans(run_store)
    with t.tracer.start_as_current_span("POST /hooks/{path:path}", kind=SpanKind.SERVER) as trigger:
        adopted = spans.adopt(new_run("r1"))
    trigger_ctx = trigger.get_span_context()
    assert adopted.trace_id == f"{trigger_ctx.trace_id:032x}"
    assert adopted.trigger == {"kind": "http", "span_id": f"{trigger_ctx.span_id:016x}"}

    async def attempt() -> str | None:  # the orchestrator runs each attempt in a task of its own
        handle = spans.start_attempt(claim("r1", adopted.trace_id))
        assert handle is not None
        with spans.invoke(claim("r1", adopted.trace_id)) as invoke:
            invoke.reply(HttpReply(200, {}, b""))
        spans.end_attempt(handle, Outcome.succeeded({"x": 1}))
        return invoke.traceparent

    traceparent = await asyncio.create_task(attempt())
    spans.run_finished(Transition("r1", RunStatus.SUCCEEDED, events=[LifecycleEvent(RUN_SUCCEEDED, "r1")]))

    found = by_name(exporter)
    run, step, call = found["run hello"], found["step greet"], found["shout"]
    assert {s.context.trace_id for s in found.values()} == {trigger_ctx.trace_id}
    assert run.parent is not None and run.parent.span_id == trigger_ctx.span_id
    assert f"{run.context.span_id:016x}" == run_span_id("r1")
    assert step.parent is not None and step.parent.span_id == run.context.span_id
    assert call.parent is not None and call.parent.span_id == step.context.span_id
    assert call.kind is SpanKind.CLIENT
    assert traceparent == f"00-{trigger_ctx.trace_id:032x}-{call.context.span_id:016x}-01"
    assert call.attributes is not None and step.attributes is not None and run.attributes is not None
    assert call.attributes["faas.invoked_name"] == "shout"
    assert call.attributes["cloudevents.event_id"] == "r1/greet/1"
    assert call.attributes["cloudevents.event_type"] == "dev.knflow.step.invoke"
    assert call.attributes["http.response.status_code"] == 200
    assert (step.attributes["knflow.run_id"], step.attributes["knflow.step"], step.attributes["knflow.attempt"]) == (
        "r1",
        "greet",
        1,
    )
    assert step.attributes["knflow.attempt.status"] == "succeeded"
    assert run.attributes["knflow.run.status"] == "succeeded"
    assert run.start_time is not None and step.start_time is not None and run.start_time <= step.start_time


async def test_a_run_finished_by_another_replica_is_looked_up() -> None:
    t, exporter = tracing()
    trace_id, trigger = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    view = run_view("r2", "hello", status="failed", trace_id=trace_id, trigger={"kind": "http", "span_id": trigger})
    stub, run_store = store({"r2": view})
    spans = t.run_spans(run_store)
    error = {"type": "ValueError", "message": "too quiet"}
    spans.run_finished(
        Transition("r2", RunStatus.FAILED, events=[LifecycleEvent(RUN_FAILED, "r2", data={"error": error})])
    )
    for _ in range(20):
        await asyncio.sleep(0)
    (run,) = exporter.get_finished_spans()
    assert stub.reads == ["r2"]
    assert f"{run.context.trace_id:032x}" == trace_id
    assert f"{run.context.span_id:016x}" == run_span_id("r2")
    assert run.parent is not None and f"{run.parent.span_id:016x}" == trigger
    assert run.start_time == 1_700_000_000 * 10**9 and run.end_time == 1_700_000_002_500_000_000
    assert run.status.status_code is StatusCode.ERROR and run.status.description == "too quiet"


async def test_an_attempt_that_fails_marks_its_span_and_other_transitions_export_nothing() -> None:
    t, exporter = tracing()
    _, run_store = store()
    spans = t.run_spans(run_store)
    handle = spans.start_attempt(claim("r3", "ab" * 16))
    assert handle is not None
    spans.end_attempt(handle, Outcome.failed({"type": "KeyError", "message": "nope"}))
    spans.run_finished(Transition("r3", RunStatus.RUNNING))
    assert spans.start_attempt(claim("r4", None)) is None  # a run from before tracing: no span
    (step,) = exporter.get_finished_spans()
    assert step.status.status_code is StatusCode.ERROR
    assert step.attributes is not None and step.attributes["error.type"] == "KeyError"
    assert f"{step.context.trace_id:032x}" == "ab" * 16
