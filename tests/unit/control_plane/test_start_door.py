"""A burst of run starts waits at the door of ``Workflows.start``: at most ``starts_at_once`` are in progress,
the others wait holding nothing built yet, and every one of them starts."""

from __future__ import annotations

import asyncio
from typing import cast

from knflow import action, workflow
from knflow_control_plane.domain.catalogue import Deployment, WorkflowVersion
from knflow_control_plane.domain.model import RunStatus
from knflow_control_plane.domain.records import NewRun, Transition
from knflow_control_plane.ports import FunctionBackend, RunStore
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.orchestrator import Orchestrator
from knflow_control_plane.service.workflows import Workflows


@action
def echo(x: int) -> int:
    return x


@workflow
def once(x: int) -> object:
    return echo(x=x)


class _DeployedStore:
    """The two reads a start makes: the deployment and the workflow version."""

    def __init__(self) -> None:
        self.reads = 0

    async def get_deployment(self, project: str, name: str) -> Deployment | None:
        self.reads += 1
        return Deployment(project, name, once.spec.version, "ready", None, 0.0, 0.0, None)

    async def get_workflow(self, project: str, name: str, version: str | None) -> WorkflowVersion | None:
        self.reads += 1
        return WorkflowVersion(project, name, once.spec.version, once.spec.model_dump(mode="json"), 0.0)


class _SlowOrchestrator:
    """Creates runs slowly, counting how many it is creating at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.runs: list[NewRun] = []

    async def submit(self, new: NewRun) -> Transition:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.001)
        self.runs.append(new)
        self.now -= 1
        return Transition(run_id=new.run_id, run_status=RunStatus.RUNNING)


def _workflows(orchestrator: _SlowOrchestrator, starts_at_once: int) -> Workflows:
    return Workflows(
        cast(RunStore, _DeployedStore()),
        cast(Functions, None),
        cast(FunctionBackend, None),
        cast(Orchestrator, orchestrator),
        starts_at_once=starts_at_once,
    )


async def test_a_burst_is_started_at_most_n_at_a_time_and_every_run_starts() -> None:
    orchestrator = _SlowOrchestrator()
    workflows = _workflows(orchestrator, starts_at_once=8)
    started = await asyncio.gather(*[workflows.start("once", {"x": i}) for i in range(200)])
    assert orchestrator.most == 8
    assert len({t.run_id for t in started}) == 200
    assert sorted(new.inputs["x"] for new in orchestrator.runs) == list(range(200))


async def test_a_start_cancelled_while_waiting_at_the_door_leaves_its_place_to_the_others() -> None:
    orchestrator = _SlowOrchestrator()
    workflows = _workflows(orchestrator, starts_at_once=1)
    first = asyncio.ensure_future(workflows.start("once", {"x": 1}))
    waiting = asyncio.ensure_future(workflows.start("once", {"x": 2}))
    last = asyncio.ensure_future(workflows.start("once", {"x": 3}))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(first, last)
    assert waiting.cancelled()
    assert [new.inputs["x"] for new in orchestrator.runs] == [1, 3]
