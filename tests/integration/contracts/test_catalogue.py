"""The catalogue: action versions and their builds, workflow versions, deployments, HTTP routes."""

from __future__ import annotations

from typing import Any

from knflow_control_plane.domain.catalogue import Deployment, Route, VersionEntry
from knflow_control_plane.ports import CatalogueStore


def action(name: str, version: str) -> dict[str, Any]:
    return {"name": name, "version": version, "entrypoint": f"{name}:run", "inputs": {"n": {"type": "integer"}}}


async def test_action_versions_are_stored_once_built_listed_and_deleted(catalogue: CatalogueStore) -> None:
    assert await catalogue.put_action_version("default", action("greet", "v1"), None, None, 10.0)
    assert not await catalogue.put_action_version("default", action("greet", "v1"), b"code", "d1", 11.0)
    assert await catalogue.put_action_version("default", action("greet", "v2"), b"two", "d2", 20.0)
    assert await catalogue.put_action_version("default", action("add", "v1"), None, None, 30.0)
    assert await catalogue.put_action_version("other", action("greet", "v9"), None, None, 40.0)
    first = await catalogue.get_action_version("default", "greet", "v1")
    assert first is not None
    assert (first.code, first.code_digest, first.build_status, first.build_logs) == (
        b"code",
        "d1",
        "pending",
        "",
    )
    assert first.spec == action("greet", "v1") and first.created_at == 10.0 and first.updated_at == 11.0
    newest = await catalogue.get_action_version("default", "greet")
    assert newest is not None and newest.version == "v2"
    await catalogue.put_action_version("default", action("greet", "v2"), b"other", "d3", 21.0)  # has code already
    again = await catalogue.get_action_version("default", "greet", "v2")
    assert again is not None and (again.code, again.code_digest) == (b"two", "d2")
    await catalogue.set_build("default", "greet", "v2", "ready", "built", {"kind": "venv", "location": "/x"}, 50.0)
    built = await catalogue.get_action_version("default", "greet", "v2")
    assert built is not None and (built.build_status, built.build_logs) == ("ready", "built")
    assert built.artifact == {"kind": "venv", "location": "/x"} and built.updated_at == 50.0
    listed = await catalogue.list_actions("default")
    assert [(a.name, a.version) for a in listed] == [("add", "v1"), ("greet", "v2"), ("greet", "v1")]
    assert all(a.code is None for a in listed)  # listings leave the code out
    assert await catalogue.delete_action("default", "greet") == 2
    assert await catalogue.delete_action("default", "greet") == 0
    assert await catalogue.get_action_version("default", "greet") is None
    assert await catalogue.get_action_version("other", "greet") is not None


async def test_workflow_versions_the_latest_and_history(catalogue: CatalogueStore) -> None:
    spec = {"name": "orders", "steps": [{"name": "a", "action": "greet"}]}
    assert await catalogue.put_workflow("default", spec, "w1", 10.0)
    assert await catalogue.put_workflow("default", {**spec, "steps": []}, "w2", 20.0)
    assert not await catalogue.put_workflow("default", spec, "w1", 30.0)  # an old version made latest again
    latest = await catalogue.get_workflow("default", "orders")
    assert latest is not None and (latest.version, latest.spec, latest.created_at) == ("w1", spec, 10.0)
    second = await catalogue.get_workflow("default", "orders", "w2")
    assert second is not None and second.spec == {**spec, "steps": []}
    assert await catalogue.get_workflow("default", "orders", "w3") is None
    assert await catalogue.get_workflow("default", "missing") is None
    assert await catalogue.workflow_history("default", "orders") == [VersionEntry("w2", 20.0), VersionEntry("w1", 10.0)]
    await catalogue.put_workflow("default", {"name": "billing"}, "b1", 40.0)
    await catalogue.set_deployment("default", "orders", "w1", "ready", None, 50.0)
    listed = await catalogue.list_workflows("default")
    assert [(w.name, w.latest_version, w.deployment, w.deployed_version) for w in listed] == [
        ("billing", "b1", None, None),
        ("orders", "w1", "ready", "w1"),
    ]
    assert listed[1].updated_at == 30.0 and listed[1].created_at == 10.0
    assert await catalogue.list_workflows("other") == []
    assert await catalogue.delete_workflow("default", "orders")
    assert not await catalogue.delete_workflow("default", "orders")
    assert await catalogue.workflow_history("default", "orders") == []


async def test_a_deployment_is_created_then_updated_keeping_its_source_unless_given(catalogue: CatalogueStore) -> None:
    assert await catalogue.get_deployment("default", "orders") is None
    await catalogue.set_deployment("default", "orders", "w1", "deploying", None, 10.0, source="git:abc")
    await catalogue.set_deployment("default", "orders", "w2", "failed", "boom", 20.0)
    found = await catalogue.get_deployment("default", "orders")
    assert found == Deployment(
        project="default",
        workflow="orders",
        version="w2",
        status="failed",
        error="boom",
        created_at=10.0,
        updated_at=20.0,
        source="git:abc",
    )
    await catalogue.set_deployment("default", "orders", "w2", "ready", None, 30.0, source="git:def")
    again = await catalogue.get_deployment("default", "orders")
    assert again is not None and (again.status, again.error, again.source) == ("ready", None, "git:def")


async def test_routes_belong_to_one_workflow_and_name_their_clashes(catalogue: CatalogueStore) -> None:
    hook = {"kind": "http", "method": "POST", "path": "/orders", "timeout": 5}
    assert await catalogue.replace_routes("default", "orders", "w1", [hook, {**hook, "method": "GET"}]) == []
    clashes = await catalogue.replace_routes("default", "billing", "b1", [hook, {**hook, "path": "/bills"}])
    assert clashes == ["POST /orders (used by orders)"]
    found = await catalogue.find_route("default", "POST", "/orders")
    assert found == Route(
        project="default", method="POST", path="/orders", workflow="orders", version="w1", trigger=hook
    )
    assert sorted(await catalogue.routes_for_path("default", "/orders")) == ["GET", "POST"]
    assert await catalogue.find_route("other", "POST", "/orders") is None
    assert await catalogue.replace_routes("default", "orders", "w2", [hook]) == []  # its own path again
    assert await catalogue.routes_for_path("default", "/orders") == ["POST"]
    await catalogue.delete_routes("default", "orders")
    assert await catalogue.find_route("default", "POST", "/orders") is None
    bills = await catalogue.find_route("default", "POST", "/bills")
    assert bills is not None and bills.workflow == "billing"


async def test_a_hook_path_is_held_by_one_project_of_the_plane(catalogue: CatalogueStore) -> None:
    http = {"kind": "http", "method": "POST", "path": "/orders", "timeout": 0}
    assert await catalogue.replace_routes("default", "orders", "v1", [http]) == []
    assert await catalogue.replace_routes("other", "shop", "v1", [http]) == ["POST /orders (used by another project)"]
    found = await catalogue.find_route(None, "POST", "/orders")  # a hook names no project: whoever holds it
    assert found is not None and (found.project, found.workflow) == ("default", "orders")
    assert await catalogue.find_route("other", "POST", "/orders") is None
    assert await catalogue.routes_for_path("other", "/orders") == []
    assert await catalogue.routes_for_path(None, "/orders") == ["POST"]
