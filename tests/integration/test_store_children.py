"""Child runs in the run store, on its in-memory twin, SQLite and a real Postgres: a sub-workflow step's
claim creates its child run and records it on the step in one transaction (the lease dropped, so it never
expires; a second start of the same claim, or of a step that moved on, creates nothing); the child's end
settles the parent step once, whoever settles it (the replica at once, or the poll); a child whose parent
step no longer runs it is found to be cancelled; the links read back both ways and filter the list."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from knflow import action, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.adapters.sqlalchemy import children
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, RunFilter, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action
def prep(x: int) -> int:
    return x + 1


@action
def twice(x: int) -> int:
    return x * 2


@workflow
def small(x: int) -> dict[str, Any]:
    return {"y": twice(x=x)}


@workflow
def big(x: int) -> object:
    a = prep(x=x)
    c = small.named("c")(x=a)
    return prep.named("after")(x=c["y"])


W = Worker("w1", lease=30.0, capacity=100)


@pytest.fixture(params=["memory", "sqlite", "sqlite-inline", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    """The in-memory twin, or a fresh SQLite or Postgres database."""
    if request.param == "memory":
        memory = MemoryStore(outbox=True)
        await memory.ensure_project("default", 0.0)
        yield memory
        return
    async with sql_store(request.param, tmp_path) as opened:
        yield opened


def new_run(spec: Any, inputs: dict[str, Any], now: float, **more: Any) -> NewRun:
    result = spec.result.model_dump(mode="json") if spec.result else None
    steps = plan_run(spec, spec.actions)
    return NewRun(new_run_id(now), "default", spec.name, spec.version, inputs, steps, result, **more)


async def claimed(store: RunStore, now: float) -> Claim:
    """A run of ``big`` whose sub-workflow step ``c`` is claimed (to start its child)."""
    created = await store.create_run(new_run(big.spec, {"x": 1}, now), now, W)
    [first] = created.claims
    done = await store.complete(first.run_id, "prep", first.attempt_id, Outcome.succeeded({"result": 2}), now, W)
    [claim] = done.claims
    assert claim.step == "c" and claim.inputs == {"x": 2}
    assert claim.child is not None and claim.child["kind"] == "workflow" and claim.child["workflow"] == "small"
    return claim


def child_of(claim: Claim, now: float) -> NewRun:
    trigger = {"kind": "workflow", "run_id": claim.run_id, "step": claim.step}
    key = ("knflow/sub-workflow", claim.attempt_id)
    return new_run(small.spec, dict(claim.inputs), now, trigger=trigger, idempotency=key)


async def started(store: RunStore, now: float) -> tuple[Claim, str]:
    claim = await claimed(store, now)
    child = await store.start_child(claim, child_of(claim, now), now, W)
    assert child is not None and child.created and [c.step for c in child.claims] == ["twice"]
    return claim, child.run_id


async def test_a_child_is_created_once_with_both_links(store: RunStore) -> None:
    now = time.time()
    claim, child_id = await started(store, now)
    parent = await store.get_run(claim.run_id)
    child = await store.get_run(child_id)
    assert parent is not None and child is not None
    step = {s.name: s for s in parent.steps}["c"]
    assert (step.status, step.child_run_id, len(step.attempts)) == ("running", child_id, 1)
    assert (child.parent_run_id, child.parent_step, parent.parent_run_id) == (claim.run_id, "c", None)
    assert await store.start_child(claim, child_of(claim, now), now, W) is None  # the claim was used
    expired = await store.expire_leases(now + 3600, W)  # the child's own attempt's lease, not the step's
    assert [t.run_id for t in expired] == [child_id]
    listed = await store.list_runs(RunFilter(project="default", parent_run_id=claim.run_id))
    assert [r.run_id for r in listed.runs] == [child_id] and listed.runs[0].parent_step == "c"
    top = await store.list_runs(RunFilter(project="default", top_level=True))
    assert [r.run_id for r in top.runs] == [claim.run_id]
    assert await store.run_depth(child_id, 10) == 1 and await store.run_depth(claim.run_id, 10) == 0


async def test_a_step_that_moved_on_starts_no_child(store: RunStore) -> None:
    now = time.time()
    claim = await claimed(store, now)
    cancelled = await store.cancel_run(claim.run_id, now, "default")
    assert cancelled is not None
    assert await store.start_child(claim, child_of(claim, now), now, W) is None
    assert (await store.list_runs(RunFilter(project="default", parent_run_id=claim.run_id))).runs == []


async def test_a_childs_end_settles_its_parent_step_once(store: RunStore) -> None:
    now = time.time()
    claim, child_id = await started(store, now)
    assert await store.settle_child(child_id, now, W) is None  # still running: nothing to settle
    child = await store.get_run(child_id)
    assert child is not None
    [attempt] = {s.name: s for s in child.steps}["twice"].attempts
    ended = await store.complete(child_id, "twice", attempt.attempt_id, Outcome.succeeded({"result": 4}), now, W)
    assert ended.run_status.value == "succeeded"
    settled = await store.settle_child(child_id, now, W)
    assert settled is not None and [c.step for c in settled.claims] == ["after"]
    assert settled.claims[0].inputs == {"x": 4}
    parent = await store.get_run(claim.run_id)
    assert parent is not None
    step = {s.name: s for s in parent.steps}["c"]
    assert (step.status, step.outputs) == ("succeeded", {"y": 4})
    again = await store.settle_child(child_id, now, W)
    assert again is None or again.duplicate  # recorded once
    assert await store.settle_children(now, W) == []


async def test_the_poll_settles_a_failed_child_and_finds_orphans(store: RunStore) -> None:
    now = time.time()
    claim, child_id = await started(store, now)
    child = await store.get_run(child_id)
    assert child is not None
    [attempt] = {s.name: s for s in child.steps}["twice"].attempts
    error = {"type": "ValueError", "message": "odd", "code": None, "retryable": False, "traceback": None}
    await store.complete(child_id, "twice", attempt.attempt_id, Outcome.failed(error), now, W)
    [settled] = await store.settle_children(now, W)
    assert settled.run_id == claim.run_id and settled.run_status.value == "failed"
    parent = await store.get_run(claim.run_id)
    assert parent is not None and parent.error is not None
    assert (parent.error["type"], parent.error["child_run_id"], parent.error["step"]) == (
        "ChildRunFailed",
        child_id,
        "c",
    )
    assert await store.settle_children(now, W) == []

    other, running = await started(store, now + 1)
    assert await store.orphan_children() == [] and await store.running_children(other.run_id) == [running]
    await store.cancel_run(other.run_id, now + 2, "default")  # the parent step is cancelled, the child runs on
    assert await store.orphan_children() == [(running, "default")]
    await store.cancel_run(running, now + 3, "default")
    assert await store.orphan_children() == [] and await store.running_children(other.run_id) == []


async def test_the_polls_looks_read_only_the_partial_indexes_of_children_going(tmp_path: Path) -> None:
    """On SQLite (which uses a partial index only when the query names its constants): the poll's two
    looks search the indexes of running sub-workflow steps and of child runs still going, so a store
    of plain runs, however many, answers them from empty indexes."""
    async with sql_store("sqlite", tmp_path):
        connection = sqlite3.connect(tmp_path / "knflow.db")
        try:
            for statement, index in (
                (children._ENDED_CHILDREN, "ix_steps_child"),
                (children._ORPHANS, "ix_runs_children_going"),
            ):
                sql = str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
                plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + sql)]
                assert plan[0].startswith("SEARCH") and f"USING INDEX {index}" in plan[0], plan
        finally:
            connection.close()
