"""``/metrics`` content: counters move with transitions and attempts; the text parses as Prometheus'."""

from __future__ import annotations

import asyncio
from typing import cast

from prometheus_client.parser import text_string_to_metric_families

from knflow_control_plane.adapters.clock import SystemClock
from knflow_control_plane.domain import events as ev
from knflow_control_plane.domain.model import Outcome, RunStatus
from knflow_control_plane.domain.records import Claim, Transition
from knflow_control_plane.observability.metrics import Metrics
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.orchestrator import Orchestrator, OrchestratorSettings

from .stubs import backend, run_view, store


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_counters_move_as_runs_finish_and_the_text_parses() -> None:
    stub, run_store = store({"elsewhere": run_view("elsewhere", "other")})
    fns = cast(Functions, None)
    orchestrator = Orchestrator(run_store, fns, backend(), SystemClock(), OrchestratorSettings())
    stats = {
        "cold_starts": 3.0,
        "cold_starts_forked": 2.0,
        "cold_start_seconds_total": 0.25,
        "instances": 3.0,
        "fork_servers": 2.0,
    }
    metrics = Metrics(orchestrator, run_store, backend(), "default", lambda: stats)
    before = samples((await metrics.exposition()).decode())
    assert before[("knflow_attempts_in_flight", ())] == 0
    assert before[("knflow_function_cold_starts_total", ())] == 3
    assert before[("knflow_function_cold_start_seconds_total", ())] == 0.25
    assert before[("knflow_fork_servers", ())] == 2
    assert before[("knflow_function_instances", (("action", "shout"), ("version", "v2")))] == 2
    assert before[("knflow_function_instances", (("action", "shout"), ("version", "v1")))] == 1
    assert not any(name == "knflow_runs_started_total" for name, _ in before)

    started = ev.LifecycleEvent(ev.RUN_STARTED, "r1", data={"workflow": "hello", "version": "w1"})
    orchestrator.apply(Transition("r1", RunStatus.RUNNING, events=[started]))
    claim = Claim("r1/greet/1", "r1", "greet", 1, "shout", "v1", {}, 0.0)
    metrics.on_attempt(claim, Outcome.succeeded({}), 0.03)
    metrics.on_attempt(claim, None, 7.0)
    steps = [ev.LifecycleEvent(ev.STEP_RETRYING, "r1", "greet"), ev.LifecycleEvent(ev.STEP_SUCCEEDED, "r1", "greet")]
    orchestrator.apply(
        Transition("r1", RunStatus.SUCCEEDED, events=[*steps, ev.LifecycleEvent(ev.RUN_SUCCEEDED, "r1")])
    )
    # A run another replica started: its workflow is read from the store, once.
    orchestrator.apply(
        Transition("elsewhere", RunStatus.FAILED, events=[ev.LifecycleEvent(ev.RUN_FAILED, "elsewhere")])
    )
    orchestrator.apply(
        Transition("elsewhere", RunStatus.FAILED, events=[ev.LifecycleEvent(ev.STEP_FAILED, "elsewhere", "s")])
    )
    for _ in range(20):
        await asyncio.sleep(0)
    orchestrator.lease_expirations = 2

    after = samples((await metrics.exposition()).decode())
    assert after[("knflow_runs_started_total", (("workflow", "hello"),))] == 1
    assert after[("knflow_runs_finished_total", (("outcome", "succeeded"), ("workflow", "hello")))] == 1
    assert after[("knflow_runs_finished_total", (("outcome", "failed"), ("workflow", "other")))] == 1
    assert after[("knflow_steps_total", (("outcome", "retrying"), ("step", "greet"), ("workflow", "hello")))] == 1
    assert after[("knflow_steps_total", (("outcome", "succeeded"), ("step", "greet"), ("workflow", "hello")))] == 1
    assert after[("knflow_steps_total", (("outcome", "failed"), ("step", "s"), ("workflow", "other")))] == 1
    latency = (("outcome", "succeeded"), ("step", "greet"), ("workflow", "hello"))
    assert after[("knflow_step_attempt_duration_seconds_count", latency)] == 1
    assert after[("knflow_step_attempt_duration_seconds_bucket", (("le", "0.05"), *latency))] == 1
    assert after[("knflow_step_attempt_duration_seconds_bucket", (("le", "0.025"), *latency))] == 0
    unrecorded = (("outcome", "unrecorded"), ("step", "greet"), ("workflow", "hello"))
    assert after[("knflow_step_attempt_duration_seconds_sum", unrecorded)] == 7.0
    assert after[("knflow_lease_expirations_total", ())] == 2
    assert stub.reads == ["elsewhere"]
