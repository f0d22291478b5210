"""Map steps in the run store, on its in-memory twin, SQLite and a real Postgres: a page of a map step's
items (a run of another project, an unknown step or a step that is not a map refused)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.map_views import ItemFilter
from knflow_control_plane.domain.model import NoSuchStep, plan_run
from knflow_control_plane.domain.records import NewRun, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action
def listing(prefix: str) -> dict[str, list[str]]:
    return {"words": [f"{prefix}{i}" for i in range(3)]}


@action
def shout(word: str, suffix: str = "!") -> str:
    return word.upper() + suffix


@workflow
def shouting(prefix: str) -> object:
    words = listing(prefix=prefix)
    return shout.map(word=words["words"], max_parallel=2)


W = Worker("w1", lease=30.0, capacity=100)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    """The in-memory twin, or a fresh SQLite or Postgres database."""
    if request.param == "memory":
        memory = MemoryStore(outbox=True)
        await memory.ensure_project("default", 0.0)
        yield memory
        return
    async with sql_store(request.param, tmp_path) as opened:
        yield opened


async def started(store: RunStore, now: float, spec: Any = shouting.spec) -> str:
    result = spec.result.model_dump(mode="json") if spec.result else None
    new = NewRun(
        new_run_id(now), "default", spec.name, spec.version, {"prefix": "w"}, plan_run(spec, spec.actions), result
    )
    created = await store.create_run(new, now, W)
    return created.run_id


async def test_the_items_of_a_step_that_is_not_a_map_are_refused(store: RunStore) -> None:
    run_id = await started(store, time.time())
    with pytest.raises(NoSuchStep, match="not a map"):
        await store.list_items(ItemFilter(run_id, "listing"))
    with pytest.raises(NoSuchStep, match="no step 'nope'"):
        await store.list_items(ItemFilter(run_id, "nope"))
    assert await store.list_items(ItemFilter(run_id, "shout", project="other")) is None
    assert await store.list_items(ItemFilter("no-such-run", "shout")) is None


async def test_a_map_not_started_has_no_items_and_no_counts(store: RunStore) -> None:
    run_id = await started(store, time.time())
    page = await store.list_items(ItemFilter(run_id, "shout"))
    assert page is not None
    assert (page.items, page.next_cursor) == ([], None)
    view = await store.get_run(run_id)
    assert view is not None
    assert {s.name: s.map for s in view.steps} == {"listing": None, "shout": None}
