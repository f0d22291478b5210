"""The workflow use cases on the in-memory store: register, deploy (build, deploy, enable triggers),
undeploy, start, and the catalogue's delete rule. No database: ``adapters/memory`` is the store."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import action, http_trigger, schedule, workflow
from knflow.spec import ActionSpec
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.model import RunStatus
from knflow_control_plane.domain.records import NewRun, Transition
from knflow_control_plane.errors import BuildFailed, Conflict, InvalidRequest, NotFound
from knflow_control_plane.ports import Artifact, BuildResult, CodeBundle, FunctionStatus, HttpReply, HttpRequest
from knflow_control_plane.service.catalogue import Catalogue
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.workflows import Workflows

CODE = {"shop.py": b"def price(n): return n\n"}


@action
def price(n: int, rate: float = 1.5) -> float:
    return n * rate


@workflow(triggers=[http_trigger(path="/orders"), schedule("*/5 * * * *", inputs={"n": 1})])
def orders(n: int) -> object:
    return price(n=n)


@workflow(triggers=[http_trigger(path="/orders")])
def copycat(n: int) -> object:
    return price(n=n)


class Builder:
    """Builds every action at once, or fails them all (``fail``)."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.fail = False

    async def build(self, action: ActionSpec, code: CodeBundle) -> BuildResult:
        if self.fail:
            raise BuildFailed(f"action {action.name}: pip failed", logs="no such package")
        self.built.append(f"{action.name}@{action.version}")
        return BuildResult(Artifact("venv", f"/venvs/{action.name}/bin/python", "/code"), "built")


class Backend:
    """Deploys anything; invokes nothing (no run is executed here)."""

    def __init__(self) -> None:
        self.deployed: list[str] = []

    async def deploy(self, action: ActionSpec, artifact: Artifact) -> FunctionStatus:
        self.deployed.append(action.name)
        return FunctionStatus(action.name, action.version, ready=True)

    async def undeploy(self, action: str, version: str) -> None:
        return None

    async def invoke(self, action: str, version: str, request: HttpRequest, timeout: float) -> HttpReply:
        raise AssertionError("no invocation in these tests")

    async def status(self, action: str, version: str) -> FunctionStatus:
        return FunctionStatus(action, version, ready=True)

    async def close(self) -> None:
        return None


class Starter:
    """Records the runs the service asks to create."""

    def __init__(self) -> None:
        self.runs: list[NewRun] = []

    async def submit(self, new: NewRun) -> Transition:
        self.runs.append(new)
        return Transition(run_id=new.run_id, run_status=RunStatus.RUNNING)


@pytest.fixture
def parts() -> tuple[MemoryStore, Builder, Backend, Starter, Workflows]:
    store, builder, backend, starter = MemoryStore(), Builder(), Backend(), Starter()
    workflows = Workflows(store, Functions(store, builder, backend), backend, starter)
    return store, builder, backend, starter, workflows


async def test_a_deploy_builds_and_deploys_each_action_once_then_enables_the_triggers(parts: Any) -> None:
    store, builder, backend, _, workflows = parts
    version, created = await workflows.register(orders.spec, CODE)
    assert created and not (await workflows.register(orders.spec, CODE))[1]
    deployed = await workflows.deploy("orders")
    assert deployed == {"workflow": "orders", "version": version, "status": "ready", "error": None}
    assert builder.built == [f"price@{price.spec.version}"] and backend.deployed == ["price"]
    route = await workflows.route("POST", "/orders")
    assert route is not None and route.workflow == "orders" and route.version == version
    assert [s.trigger["cron"] for s in await store.list_schedules("default")] == ["*/5 * * * *"]
    built = await store.get_action_version("default", "price", price.spec.version)
    assert built is not None and built.build_status == "ready" and (built.artifact or {})["kind"] == "venv"


async def test_a_failed_build_leaves_the_deployment_failed_with_its_reason_and_no_triggers(parts: Any) -> None:
    store, builder, _, _, workflows = parts
    await workflows.register(orders.spec, CODE)
    builder.fail = True
    outcome = await workflows.deploy("orders")
    assert outcome["status"] == "failed" and "pip failed" in outcome["error"]
    assert await store.find_route("default", "POST", "/orders") is None
    assert await store.list_schedules("default") == []
    deployment = await store.get_deployment("default", "orders")
    assert deployment is not None and deployment.status == "failed"
    record = await store.get_action_version("default", "price", price.spec.version)
    assert record is not None and (record.build_status, record.build_logs) == ("failed", "no such package")


async def test_a_path_another_deployed_workflow_holds_is_a_conflict_naming_it(parts: Any) -> None:
    store, _, _, _, workflows = parts
    await workflows.register(orders.spec, CODE)
    await workflows.register(copycat.spec, CODE)  # registered while the path is free
    await workflows.deploy("orders")
    with pytest.raises(Conflict, match=r"POST /orders \(used by orders\)"):
        await workflows.deploy("copycat")
    deployment = await store.get_deployment("default", "copycat")
    assert deployment is not None and deployment.status == "failed"
    with pytest.raises(Conflict, match="taken by workflow 'orders'"):  # and a new version is refused early
        await workflows.register(copycat.spec.model_copy(update={"description": "v2"}), CODE)


async def test_a_start_submits_checked_inputs_and_undeploy_stops_both_starts_and_triggers(parts: Any) -> None:
    store, _, _, starter, workflows = parts
    await workflows.register(orders.spec, CODE)
    with pytest.raises(Conflict, match="not deployed"):
        await workflows.start("orders", {"n": 2})
    await workflows.deploy("orders")
    started = await workflows.start("orders", {"n": 2}, trigger={"kind": "manual", "at": 1.0})
    (new,) = starter.runs
    assert new.run_id == started.run_id and new.workflow == "orders" and new.inputs == {"n": 2}
    assert new.trigger == {"kind": "manual", "at": 1.0}
    undeployed = await workflows.undeploy("orders")
    assert undeployed["status"] == "undeployed"
    assert await store.find_route("default", "POST", "/orders") is None
    with pytest.raises(Conflict):
        await workflows.start("orders", {"n": 3})
    with pytest.raises(NotFound):
        await workflows.undeploy("never-registered")


async def test_a_stored_value_reference_is_accepted_only_as_knflow_wrote_it_for_this_run(parts: Any) -> None:
    # A client's {"knflow.payload": {"key": ...}} would have any stored value read back to the run's steps
    # and page (another run's, another project's); an HTTP trigger's intake writes them under the run's id.
    _, _, _, starter, workflows = parts
    await workflows.register(orders.spec, CODE)
    await workflows.deploy("orders")
    elsewhere = {"knflow.payload": {"key": "payloads/01other/inputs/n.json", "size": 9}}
    for sneaky in (elsewhere, {"knflow.payload": {"key": "payloads/01mine/../01other/inputs/n.json"}}):
        with pytest.raises(InvalidRequest, match="written by knflow only") as refused:
            await workflows.start("orders", {"n": sneaky}, run_id="01mine")
        assert refused.value.fields["field"] == "inputs.n"
    with pytest.raises(InvalidRequest, match="written by knflow only"):
        await workflows.start("orders", {"n": elsewhere})  # no run id yet: no reference can be its own
    assert starter.runs == []
    own = {"knflow.payload": {"key": "payloads/01mine/inputs/n.json", "size": 9}}
    started = await workflows.start("orders", {"n": own}, run_id="01mine")
    assert started.run_id == "01mine" and starter.runs[0].inputs == {"n": own}


async def test_the_catalogue_refuses_to_delete_a_deployed_workflow(parts: Any) -> None:
    store, _, _, _, workflows = parts
    catalogue = Catalogue(store, "default")
    await workflows.register(orders.spec, CODE)
    await workflows.deploy("orders")
    with pytest.raises(Conflict, match="undeploy it first"):
        await catalogue.delete_workflow("orders")
    await workflows.undeploy("orders")
    await catalogue.delete_workflow("orders")
    with pytest.raises(NotFound):
        await catalogue.versions("orders")
    with pytest.raises(NotFound):
        await catalogue.delete_workflow("orders")
    assert [a.name for a in await catalogue.actions()] == ["price"]
