"""The orchestrator on the in-memory store: claims invoked, outcomes recorded, dependents started, runs
ended, a cancel's late reply ignored. The same planner decides as on a database; no database here."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from knflow import action, workflow
from knflow_control_plane.adapters.clock import SystemClock
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import NewRun
from knflow_control_plane.ports import FunctionBackend, HttpReply, HttpRequest
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.orchestrator import Orchestrator, OrchestratorSettings
from knflow_control_plane.service.outcomes import CheckedReply
from knflow_runtime.contract import decode_invoke


@action
def double(x: int) -> int:
    return x * 2


@action
def add(a: int, b: int) -> int:
    return a + b


@workflow
def fan(x: int) -> object:
    left = double.named("left")(x=x)
    right = double.named("right")(x=left)
    return add(a=left, b=right)


class Ready:
    """Functions that are always deployed."""

    async def ensure(self, project: str, action: str, version: str) -> None:
        return None

    def name(self, project: str, action: str) -> str:
        return action


class Backend:
    """Computes each action at once, or holds every reply until ``open`` (``gated``); fails ``failing``."""

    def __init__(self, *, gated: bool = False, failing: str | None = None) -> None:
        self.open = asyncio.Event()
        if not gated:
            self.open.set()
        self.failing = failing
        self.invoked: list[str] = []

    async def invoke(self, action: str, version: str, request: HttpRequest, timeout: float) -> HttpReply:
        invocation = decode_invoke(request.headers, request.body)
        self.invoked.append(invocation.step)
        await self.open.wait()
        if invocation.step == self.failing:
            error = {"type": "ValueError", "message": "no", "code": None, "retryable": False, "traceback": None}
            return CheckedReply(200, {}, b"", Outcome.failed(error))
        inputs = invocation.data["inputs"]
        result = inputs["x"] * 2 if action == "double" else inputs["a"] + inputs["b"]
        return CheckedReply(200, {}, b"", Outcome.succeeded({"result": result}))


def new_run(x: int) -> NewRun:
    spec = fan.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    return NewRun(
        new_run_id(time.time()), "default", spec.name, spec.version, {"x": x}, plan_run(spec, spec.actions), result
    )


def orchestrating(store: MemoryStore, backend: Backend) -> Orchestrator:
    functions, functions_backend = cast(Functions, Ready()), cast(FunctionBackend, backend)
    return Orchestrator(store, functions, functions_backend, SystemClock(), OrchestratorSettings(worker="w"))


async def test_a_run_goes_through_its_dag_and_ends_with_its_result() -> None:
    store, backend = MemoryStore(outbox=True), Backend()
    here = orchestrating(store, backend)
    created = await store.create_run(new_run(3), time.time(), here.worker())
    here.apply(created)
    assert await asyncio.wait_for(here.wait(created.run_id, 10.0), 10.0) == ("succeeded", 18, None)
    assert backend.invoked == ["left", "right", "add"]
    view = await store.get_run(created.run_id, "default")
    assert view is not None and [(s.name, s.status, len(s.attempts)) for s in view.steps] == [
        ("left", "succeeded", 1),
        ("right", "succeeded", 1),
        ("add", "succeeded", 1),
    ]
    events = [row["type"] for row in await store.take_outbox(100)]
    assert events[0] == "dev.knflow.run.started" and events[-1] == "dev.knflow.run.succeeded"
    await here.stop()


async def test_a_step_that_fails_without_retries_fails_the_run_naming_it() -> None:
    store = MemoryStore()
    here = orchestrating(store, Backend(failing="right"))
    created = await store.create_run(new_run(1), time.time(), here.worker())
    here.apply(created)
    state = await asyncio.wait_for(here.wait(created.run_id, 10.0), 10.0)
    assert state is not None and state[0] == "failed" and state[2]["step"] == "right"
    view = await store.get_run(created.run_id)
    assert view is not None and {s.name: s.status for s in view.steps}["add"] != "succeeded"
    await here.stop()


async def test_a_cancelled_run_ignores_the_reply_of_an_attempt_in_flight() -> None:
    store, backend = MemoryStore(), Backend(gated=True)
    here = orchestrating(store, backend)
    created = await store.create_run(new_run(2), time.time(), here.worker())
    here.apply(created)
    await asyncio.sleep(0.05)  # the first attempt is in flight, held by the backend
    cancelled = await store.cancel_run(created.run_id, time.time(), "default")
    assert cancelled is not None and cancelled.run_status.value == "cancelled"
    here.apply(cancelled)
    backend.open.set()
    await here.stop(grace=5.0)
    state = await store.run_status(created.run_id)
    assert state is not None and state[:2] == ("cancelled", None) and state[2]["type"] == "Cancelled"
    view = await store.get_run(created.run_id)
    assert view is not None
    steps: dict[str, Any] = {s.name: s for s in view.steps}
    assert [a.status for a in steps["left"].attempts] == ["cancelled"] and backend.invoked == ["left"]
