"""Projects as an operator manages them, on every implementation: created once, listed with what they hold,
and deleted with everything of theirs and nothing of another's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.ports import CatalogueStore, ProjectAdmin, TriggerStore
from tests.integration.conftest import sql_store

from .conftest import IMPLEMENTATIONS


class Everything(ProjectAdmin, CatalogueStore, TriggerStore):
    """What these tests use of a store."""


@pytest.fixture(params=IMPLEMENTATIONS)
async def projects(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Everything]:
    if request.param == "memory":
        yield MemoryStore()  # type: ignore[misc]
        return
    async with sql_store(request.param, tmp_path) as store:
        yield store  # type: ignore[misc]


async def test_projects_are_created_once_listed_and_deleted_with_what_they_hold(projects: Everything) -> None:
    assert await projects.create_project("alpha", 1.0) is True
    assert await projects.create_project("alpha", 2.0) is False
    assert await projects.create_project("beta", 1.0) is True
    for project in ("alpha", "beta"):
        await projects.put_workflow(project, {"name": "orders", "version": "v1"}, "v1", 1.0)
        await projects.set_deployment(project, "orders", "v1", "ready", None, 1.0)
        await projects.replace_triggers(project, "orders", "v1", [{"kind": "event", "type": "t"}], [], 1.0)
    listed = {p["name"]: p for p in await projects.list_projects()}
    assert (listed["alpha"]["workflows"], listed["alpha"]["deployed"]) == (1, ["orders"])
    assert [p["name"] for p in await projects.list_projects(only="beta")] == ["beta"]
    generation = await projects.triggers_generation()
    assert await projects.delete_project("beta") is True
    assert await projects.triggers_generation() > generation  # its triggers went with it
    assert await projects.delete_project("beta") is False
    assert await projects.list_projects(only="beta") == []
    assert await projects.list_workflows("beta") == [] and await projects.list_event_triggers("beta") == []
    assert len(await projects.list_workflows("alpha")) == 1 and len(await projects.list_event_triggers("alpha")) == 1


async def test_replicas_creating_one_project_at_once_make_it_once_and_all_succeed(projects: Everything) -> None:
    made = await asyncio.gather(*(projects.create_project("gamma", 1.0) for _ in range(8)))
    assert sorted(made) == [False] * 7 + [True]
    assert [p["name"] for p in await projects.list_projects(only="gamma")] == ["gamma"]
