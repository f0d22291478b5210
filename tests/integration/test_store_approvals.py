"""Approvals in the run store, on its in-memory twin, SQLite and a real Postgres: the approval step waits
(status ``waiting``, no attempt, its deadline stored and reported by ``next_due``); a decision goes through
the state machine (approved: the next step is claimed by the next poll; a second decision or an unknown
step refused, another project's run not found); a deadline passing fails the step and the run
(``fire_timers``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, approval, sleep, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import NoSuchStep, Outcome, TransitionError, plan_run
from knflow_control_plane.domain.records import NewRun, RunFilter, Worker
from knflow_control_plane.domain.transitions import ApprovalDecided
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action
def place(order: str) -> dict[str, Any]:
    return {"order": order}


@action
def ship(order: str) -> str:
    return f"shipped {order}"


@workflow
def checkout(order: str) -> object:
    placed = place(order=order)
    approval("Ship it?", timeout="1h", name="ok")
    return ship(order=placed["order"])


@workflow
def napping(order: str) -> object:
    placed = place(order=order)
    sleep("10m", name="nap")
    return ship(order=placed["order"])


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


async def waiting_run(store: RunStore, now: float, spec: Any = checkout.spec) -> str:
    result = spec.result.model_dump(mode="json") if spec.result else None
    new = NewRun(
        new_run_id(now), "default", spec.name, spec.version, {"order": "A1"}, plan_run(spec, spec.actions), result
    )
    created = await store.create_run(new, now, W)
    [claim] = created.claims
    done = await store.complete(claim.run_id, "place", claim.attempt_id, Outcome.succeeded({"order": "A1"}), now, W)
    assert done.claims == []
    return created.run_id


async def test_an_approved_step_lets_the_run_go_on(store: RunStore) -> None:
    now = time.time()
    run_id = await waiting_run(store, now)
    view = await store.get_run(run_id)
    assert view is not None
    ok = {s.name: s for s in view.steps}["ok"]
    assert (ok.status, ok.attempts) == ("waiting", [])
    due = await store.next_due()
    assert due is not None and due <= now + 3600.0
    assert await store.decide(run_id, "other", ApprovalDecided("ok", True, "local"), now) is None
    with pytest.raises(NoSuchStep):
        await store.decide(run_id, "default", ApprovalDecided("ghost", True, "local"), now)
    with pytest.raises(TransitionError, match="'ship' is not an approval"):
        await store.decide(run_id, "default", ApprovalDecided("ship", True, "local"), now)
    decided = await store.decide(run_id, "default", ApprovalDecided("ok", True, "key-1", "fine"), now + 1)
    assert decided is not None and decided.claims == []  # released, claimed by the next poll
    with pytest.raises(TransitionError, match="it is succeeded"):
        await store.decide(run_id, "default", ApprovalDecided("ok", False, "local"), now + 2)
    claimed = [c for t in await store.claim_ready(now + 2, W) for c in t.claims if c.run_id == run_id]
    assert [c.step for c in claimed] == ["ship"]
    outcome = Outcome.succeeded({"result": "shipped A1"})
    await store.complete(run_id, "ship", claimed[0].attempt_id, outcome, now + 3, W)
    view = await store.get_run(run_id)
    assert view is not None and view.status == "succeeded" and view.result == "shipped A1"
    ok = {s.name: s for s in view.steps}["ok"]
    assert ok.outputs == {"approved": True, "by": "key-1", "comment": "fine", "decided_at": now + 1}


async def test_the_stored_deadline_fails_the_step_and_its_run(store: RunStore) -> None:
    now = time.time()
    run_id = await waiting_run(store, now)
    assert [t for t in await store.fire_timers(now + 10) if t.run_id == run_id] == []
    fired = [t for t in await store.fire_timers(now + 3601) if t.run_id == run_id]
    assert [t.run_status.value for t in fired] == ["failed"]
    view = await store.get_run(run_id)
    assert view is not None and view.status == "failed"
    assert view.error is not None and view.error["type"] == "ApprovalTimeout" and view.error["step"] == "ok"
    assert {s.name: s.status for s in view.steps} == {"place": "succeeded", "ok": "failed", "ship": "skipped"}


async def test_a_sleep_wakes_at_its_stored_time_and_the_run_goes_on(store: RunStore) -> None:
    now = time.time()
    run_id = await waiting_run(store, now, napping.spec)
    view = await store.get_run(run_id)
    assert view is not None and {s.name: s.status for s in view.steps}["nap"] == "waiting"
    with pytest.raises(TransitionError, match="'nap' is not an approval"):
        await store.decide(run_id, "default", ApprovalDecided("nap", True, "local"), now)
    assert [t for t in await store.fire_timers(now + 599) if t.run_id == run_id] == []
    woke = [t for t in await store.fire_timers(now + 600) if t.run_id == run_id]
    assert [t.run_status.value for t in woke] == ["running"]
    assert [t for t in await store.fire_timers(now + 601) if t.run_id == run_id] == []  # once
    claimed = [c for t in await store.claim_ready(now + 601, W) for c in t.claims if c.run_id == run_id]
    assert [c.step for c in claimed] == ["ship"]


async def test_a_list_names_the_waiting_steps_and_filters_on_them(store: RunStore) -> None:
    now = time.time()
    held = await waiting_run(store, now)
    spec = checkout.spec
    busy = NewRun(
        new_run_id(now + 1), "default", spec.name, spec.version, {"order": "B2"}, plan_run(spec, spec.actions), None
    )
    working = (await store.create_run(busy, now + 1, W)).run_id  # its first step runs: nothing waits

    listed = {r.run_id: r.waiting for r in (await store.list_runs(RunFilter())).runs}
    assert listed == {held: ["ok"], working: []}
    assert (await store.get_run(held) or pytest.fail("no run")).waiting == ["ok"]
    assert [r.run_id for r in (await store.list_runs(RunFilter(waiting=True))).runs] == [held]
    assert [r.run_id for r in (await store.list_runs(RunFilter(status="running", waiting=False))).runs] == [working]

    await store.decide(held, "default", ApprovalDecided("ok", True, "local"), now + 2)
    assert (await store.list_runs(RunFilter(waiting=True))).runs == []
