"""An action's ``max_concurrency`` across runs, one contract for the in-memory store, SQLite and a real
Postgres: its steps are never claimed by their run's own transitions but held ``throttled`` (ready, not
dispatched, visible), and the dispatcher starts them while fewer than the limit run, oldest first across
runs; a run that ends cancels its throttled steps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow import action, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Transition, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action(max_concurrency=2)
def scarce(x: int) -> int:
    return x


@action
def plain(x: int) -> int:
    return x


@workflow
def three(x: int) -> object:
    return [scarce.named(name)(x=x) for name in ("a", "b", "c")] + [plain(x=x)]


W = Worker("w1", lease=30.0, capacity=100)


@pytest.fixture(params=["memory", "sqlite", "sqlite-inline", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    if request.param == "memory":
        memory = MemoryStore(outbox=True)
        await memory.ensure_project("default", 0.0)
        yield memory
        return
    async with sql_store(request.param, tmp_path) as opened:
        yield opened


def new_run(now: float) -> NewRun:
    spec = three.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    return NewRun(new_run_id(now), "default", spec.name, spec.version, {"x": 1}, plan_run(spec, spec.actions), result)


async def statuses(store: RunStore, run_id: str) -> dict[str, str]:
    run = await store.get_run(run_id)
    assert run is not None
    return {step.name: step.status for step in run.steps}


async def dispatched(store: RunStore) -> list[tuple[str, str]]:
    return [(c.run_id, c.step) for t in await store.dispatch_throttled(time.time(), W) for c in t.claims]


async def finish(store: RunStore, claim: Claim) -> Transition:
    outcome = Outcome.succeeded({"result": 1})
    return await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), W)


async def test_steps_of_a_throttled_action_run_at_most_its_limit_across_runs_oldest_first(store: RunStore) -> None:
    first = await store.create_run(new_run(time.time()), time.time(), W)
    assert [c.step for c in first.claims] == ["plain"]  # the others wait for the action's slots
    assert any(e.type.endswith("step.throttled") for e in first.events)
    assert await statuses(store, first.run_id) == {
        "a": "throttled",
        "b": "throttled",
        "c": "throttled",
        "plain": "running",
    }
    second = await store.create_run(new_run(time.time() + 1), time.time() + 1, W)
    assert (await statuses(store, second.run_id))["a"] == "throttled"

    granted = await dispatched(store)
    assert granted == [(first.run_id, "a"), (first.run_id, "b")]
    assert await dispatched(store) == []  # two run: the action is full
    assert [c.throttled for c in first.claims] == [False]  # plain's end frees no throttled slot

    running = await store.get_run(first.run_id)
    assert running is not None
    attempt_a = next(s for s in running.steps if s.name == "a").attempts[0].attempt_id
    ended = await store.complete(first.run_id, "a", attempt_a, Outcome.succeeded({"result": 1}), time.time(), W)
    assert ended.claims == []  # its run's own transition starts none of them
    assert await dispatched(store) == [(first.run_id, "c")]  # the oldest throttled step: the first run's
    assert await dispatched(store) == []

    cancelled = await store.cancel_run(second.run_id, time.time(), "default")
    assert cancelled is not None
    assert await statuses(store, second.run_id) == dict.fromkeys(("a", "b", "c", "plain"), "cancelled")
    assert await dispatched(store) == []  # nothing left waiting


async def test_a_granted_step_binds_and_claims_like_a_ready_one(store: RunStore) -> None:
    made = await store.create_run(new_run(time.time()), time.time(), W)
    await finish(store, made.claims[0])  # plain
    granted = [c for t in await store.dispatch_throttled(time.time(), W) for c in t.claims]
    assert sorted(c.step for c in granted) == ["a", "b"] and all(c.throttled for c in granted)
    assert all(c.inputs == {"x": 1} for c in granted)
    for claim in granted:
        await finish(store, claim)
    [last] = [c for t in await store.dispatch_throttled(time.time(), W) for c in t.claims]
    done = await finish(store, last)
    assert done.run_status.value == "succeeded"
