"""The child-run service over the in-memory store and a real orchestrator: a sub-workflow step's claim
starts its child (no function invoked), each child's end is settled into its parent at once, a workflow
that runs itself stops at the depth bound (``ChildRunTooDeep``) and fails its ancestors one by one, a
child that cannot be built fails its step, and a cancel goes down the family."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from knflow_control_plane.adapters.clock import SystemClock
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.children import MAX_DEPTH
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import PlannedStep, RetryPolicy
from knflow_control_plane.domain.records import NewRun, RunFilter
from knflow_control_plane.errors import Conflict
from knflow_control_plane.ports import FunctionBackend
from knflow_control_plane.service.children import ChildRuns
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.orchestrator import Orchestrator, OrchestratorSettings
from knflow_control_plane.service.workflows import Workflows

CHILD = {"kind": "workflow", "workflow": "rec", "version": "v1"}


def recursive(
    trigger: dict[str, Any] | None = None, key: tuple[str, str] | None = None, project: str = "default"
) -> NewRun:
    """A run of ``rec``, whose one step runs ``rec`` again (registration refuses it; a rollback could not)."""
    step = PlannedStep("again", "", "", {}, (), (), RetryPolicy(), wait=CHILD)
    now = time.time()
    return NewRun(new_run_id(now), project, "rec", "v1", {}, [step], trigger=trigger or {}, idempotency=key)


class Starts:
    """What ChildRuns asks of the workflows service: the child's run (``refuse``: a 409 instead)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse, self.project = refuse, "default"
        self.projects: list[str] = []  # the project of each child asked for

    def of(self, project: str) -> Starts:
        self.projects.append(project)
        self.project = project
        return self

    async def new_run(
        self, name: str, inputs: dict[str, Any], trigger: Any, version: Any, idempotency: Any, **more: Any
    ) -> NewRun:
        if self.refuse:
            raise Conflict(f"workflow {name!r} is not deployed: deploy it first", field="workflow")
        return recursive(trigger, idempotency, self.project)


def plane(store: MemoryStore, starts: Starts) -> Orchestrator:
    unused = cast(Functions, None), cast(FunctionBackend, None)  # no action runs in these runs
    here = Orchestrator(store, *unused, SystemClock(), OrchestratorSettings(worker="w"))
    here.children = ChildRuns(store, cast(Workflows, starts), here, SystemClock())
    here.on_transition(here.children.on_transition)
    return here


async def test_a_workflow_running_itself_stops_at_the_depth_bound_and_fails_up() -> None:
    store, starts = MemoryStore(), Starts()
    here = plane(store, starts)
    root = await store.create_run(recursive(project="team"), time.time(), here.worker())
    here.apply(root)
    state = await asyncio.wait_for(here.wait(root.run_id, 20.0), 20.0)
    assert state is not None and state[0] == "failed" and state[2]["type"] == "ChildRunFailed"
    family, current = [root.run_id], root.run_id
    while children := (await store.list_runs(RunFilter(project="team", parent_run_id=current))).runs:
        [child] = children
        family.append(child.run_id)
        current = child.run_id
    assert len(family) == MAX_DEPTH + 1  # the root and ten generations, each in its parent's project
    assert starts.projects == ["team"] * MAX_DEPTH
    deepest = await store.get_run(family[-1])
    assert deepest is not None and deepest.error is not None and deepest.error["type"] == "ChildRunTooDeep"
    for run_id in family:
        assert (await store.run_status(run_id) or ("",))[0] == "failed"
    await here.stop()


async def test_a_child_that_cannot_be_built_fails_its_step_without_a_child() -> None:
    store = MemoryStore()
    here = plane(store, Starts(refuse=True))
    root = await store.create_run(recursive(), time.time(), here.worker())
    here.apply(root)
    state = await asyncio.wait_for(here.wait(root.run_id, 10.0), 10.0)
    assert state is not None and state[0] == "failed" and state[2]["type"] == "ChildRunNotStarted"
    assert "workflow 'rec' is not deployed: deploy it first (workflow)" in state[2]["message"]
    assert (await store.list_runs(RunFilter(parent_run_id=root.run_id))).runs == []
    await here.stop()


async def test_a_cancel_goes_down_the_family() -> None:
    store = MemoryStore()
    here = plane(store, Starts())
    assert here.children is not None
    gate = asyncio.Event()
    started = here.children.start

    async def held(claim: Any) -> None:  # three generations, then the starts wait
        if await store.run_depth(claim.run_id, MAX_DEPTH) >= 2:
            await gate.wait()
        await started(claim)

    here.children.start = held  # type: ignore[method-assign]
    root = await store.create_run(recursive(), time.time(), here.worker())
    here.apply(root)
    for _ in range(200):
        if len((await store.list_runs(RunFilter())).runs) == 3:
            break
        await asyncio.sleep(0.01)
    runs = (await store.list_runs(RunFilter())).runs
    assert len(runs) == 3 and all(r.status == "running" for r in runs)
    cancelled = await store.cancel_run(root.run_id, time.time(), "default")
    assert cancelled is not None
    await here.children.cancel_below(root.run_id, "default")
    assert {r.status for r in (await store.list_runs(RunFilter())).runs} == {"cancelled"}
    gate.set()  # the held start finds its step cancelled: no fourth run
    await asyncio.sleep(0.05)
    assert len((await store.list_runs(RunFilter())).runs) == 3
    await here.stop()
