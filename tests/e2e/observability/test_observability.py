"""As an operator would: `knflow dev` exporting to an OTLP receiver, `/metrics`, JSON logs, `knflow trace`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..control_plane.processes import ControlPlane
from .otlp_receiver import Receiver, Span

FLOWS = Path(__file__).parent / "flows"
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP span kinds


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def traced(tmp_path: Path, receiver: Receiver) -> Iterator[ControlPlane]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "KNFLOW_LOG_FORMAT": "json",
        "KNFLOW_POLL_INTERVAL": "0.2",
    }
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    yield cp
    cp.stop()


def metrics(cp: ControlPlane) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = httpx.get(f"{cp.url}/metrics", timeout=10)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def complete(run_id: str) -> Callable[[list[Span]], bool]:
    def check(spans: list[Span]) -> bool:
        mine = [s for s in spans if s.attributes.get("knflow.run_id") == run_id]
        return sum(s.kind == SERVER and s.service == "add_one" for s in mine) == 3 and any(
            s.name == "run three" for s in mine
        )

    return check


def test_one_trace_per_run_with_metrics_logs_and_a_waterfall(
    traced: ControlPlane, receiver: Receiver, tmp_path: Path
) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    deployed = traced.cli("deploy", str(tmp_path / "flows" / "three.py"), "--json")
    assert deployed.returncode == 0, deployed.stderr
    before = metrics(traced)

    reply = httpx.post(f"{traced.url}/hooks/three", json={"start": 1}, timeout=60)
    assert reply.status_code == 200 and reply.json() == 4
    run_id = reply.headers["x-knflow-run-id"]
    run = httpx.get(f"{traced.url}/v1/runs/{run_id}", timeout=10).json()
    trace_id = run["trace_id"]

    spans = receiver.wait_for(complete(run_id), timeout=30)
    in_trace = [s for s in spans if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in in_trace}
    trigger = next(s for s in in_trace if s.name == "POST /hooks/{path:path}")
    root = next(s for s in in_trace if s.name == "run three")
    attempts = sorted((s for s in in_trace if s.name.startswith("step ")), key=lambda s: s.start_ns)
    invokes = [s for s in in_trace if s.kind == CLIENT and s.name == "add_one"]
    handlers = [s for s in in_trace if s.kind == SERVER and s.service == "add_one"]
    # One trace: the run's stored trace id, across the control plane and every function process.
    assert {s.trace_id for s in spans if s.attributes.get("knflow.run_id") == run_id} == {trace_id}
    assert {s.service for s in in_trace} == {"knflow-control-plane", "add_one"}
    assert trigger.parent_id == "" and trigger.attributes["knflow.run_id"] == run_id
    # The request publishes the trigger event; the run starts where it is consumed, in the same trace.
    send = by_id[by_id[root.parent_id].parent_id]
    process = by_id[root.parent_id]
    assert (send.name, send.kind, send.parent_id) == ("send knflow.triggers", PRODUCER, trigger.span_id)
    assert (process.name, process.kind) == ("process knflow.triggers", CONSUMER)
    assert process.attributes["messaging.destination.name"] == "knflow.triggers"
    assert process.attributes["cloudevents.event_id"] == run_id == send.attributes["messaging.message.id"]
    assert run["trigger"]["span_id"] == process.span_id
    assert [a.name for a in attempts] == ["step s0", "step s1", "step s2"]
    assert all(a.parent_id == root.span_id for a in attempts)
    assert len(invokes) == 3 and all(by_id[i.parent_id].name.startswith("step ") for i in invokes)
    assert len(handlers) == 3 and all(by_id[h.parent_id] in invokes for h in handlers)
    for handler in handlers:
        invoke = by_id[handler.parent_id]
        attempt = by_id[invoke.parent_id]
        assert (
            handler.attributes["knflow.step"] == invoke.attributes["knflow.step"] == attempt.attributes["knflow.step"]
        )
        assert handler.attributes["faas.invocation_id"] == invoke.attributes["cloudevents.event_id"]
    assert [h.attributes["faas.coldstart"] for h in sorted(handlers, key=lambda s: s.start_ns)] == [True, False, False]
    assert root.attributes["knflow.run.status"] == "succeeded"
    assert root.start_ns <= attempts[0].start_ns and attempts[-1].end_ns <= root.end_ns

    after = metrics(traced)
    started = ("knflow_runs_started_total", (("workflow", "three"),))
    finished = ("knflow_runs_finished_total", (("outcome", "succeeded"), ("workflow", "three")))
    assert after[started] == before.get(started, 0) + 1
    assert after[finished] == before.get(finished, 0) + 1
    for step in ("s0", "s1", "s2"):
        labels = (("outcome", "succeeded"), ("step", step), ("workflow", "three"))
        assert after[("knflow_steps_total", labels)] == 1
        assert after[("knflow_step_attempt_duration_seconds_count", labels)] == 1
    assert after[("knflow_function_cold_starts_total", ())] >= 1
    assert sum(v for (name, _), v in after.items() if name == "knflow_function_instances") >= 1
    assert after[("knflow_attempts_in_flight", ())] == 0

    waterfall = traced.cli("trace", run_id)
    assert waterfall.returncode == 0, waterfall.stderr
    assert trace_id in waterfall.stdout and "step" not in waterfall.stderr
    assert all(name in waterfall.stdout for name in ("three", "s0", "s1", "s2", "attempt 1", "█"))
    as_json = json.loads(traced.cli("trace", run_id, "--json").stdout)
    assert as_json["trace_id"] == trace_id
    assert [s["kind"] for s in as_json["spans"]] == ["run", "step", "attempt", "step", "attempt", "step", "attempt"]

    logs = json.loads(traced.cli("logs", run_id, "--json").stdout)["logs"]
    assert [(e["step"], e["attempt"]) for e in logs] == [("s0", 1), ("s1", 1), ("s2", 1)]
    for entry, value in zip(logs, (1, 2, 3), strict=True):
        assert f"adding one to {value}" in entry["logs"] and f"printed {value}" in entry["logs"]
    shown = traced.cli("logs", run_id)
    assert shown.returncode == 0 and "s1 · attempt 1" in shown.stdout and "adding one to 2" in shown.stdout

    lines = [json.loads(line) for line in traced.log().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    about_run = [line for line in lines if line.get("run_id") == run_id]
    assert about_run and all(line["trace_id"] == trace_id for line in about_run)
