"""Event waits in the run store, on its in-memory twin, SQLite and a real Postgres (one contract): a
``wait_for_event`` step waits (status ``waiting``, no attempt) indexed by its bound match values; an event
of its type whose data matches resumes it once (``resume_waits``: its output ``event``, the next step
claimed by the next poll), every current matching waiter at once (a broadcast), never another project's
or one whose values differ; a redelivered event changes nothing; the timeout fails the step; an event
that arrives before the wait is not kept for it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, wait_for_event, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.event_waits import ArrivedEvent
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import NewRun, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action
def place(order: str) -> dict[str, Any]:
    return {"order": order}


@action
def ship(payment: Any) -> str:
    return f"shipped {payment['data']['order']['id']}"


@workflow
def checkout(order: str) -> object:
    placed = place(order=order)
    paid = wait_for_event("com.shop.paid", match={"order.id": placed["order"]}, timeout="1h", name="paid")
    return ship(payment=paid["event"])


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


def paid(order: str, event_id: str = "e-1", project: str | None = "default") -> ArrivedEvent:
    return ArrivedEvent(event_id, "com.shop.paid", "/shop", {"order": {"id": order}}, project=project)


async def waiting_run(store: RunStore, now: float, order: str, project: str = "default") -> str:
    spec = checkout.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    run_id = new_run_id(now)
    new = NewRun(run_id, project, spec.name, spec.version, {"order": order}, plan_run(spec, spec.actions), result)
    created = await store.create_run(new, now, W)
    [claim] = created.claims
    done = await store.complete(run_id, "place", claim.attempt_id, Outcome.succeeded({"order": order}), now, W)
    assert done.claims == []
    return run_id


async def statuses(store: RunStore, run_id: str) -> dict[str, str]:
    view = await store.get_run(run_id)
    assert view is not None
    return {s.name: s.status for s in view.steps}


async def test_the_matching_event_resumes_the_step_once_and_the_run_goes_on(store: RunStore) -> None:
    now = time.time()
    assert await store.resume_waits(paid("A1", "early"), now) == []  # before the wait: not kept
    run_id = await waiting_run(store, now, "A1")
    other = await waiting_run(store, now, "B2")
    assert (await statuses(store, run_id))["paid"] == "waiting"
    assert await store.resume_waits(paid("Z9"), now) == []  # other values
    assert await store.resume_waits(paid("A1", project="elsewhere"), now) == []  # another project's event
    unrelated = ArrivedEvent("e-x", "com.shop.refunded", "/shop", {"order": {"id": "A1"}}, project="default")
    assert await store.resume_waits(unrelated, now) == []
    resumed = await store.resume_waits(paid("A1"), now + 1)
    assert [(t.run_id, t.run_status.value) for t in resumed] == [(run_id, "running")]
    assert await store.resume_waits(paid("A1"), now + 2) == []  # a redelivery: once
    assert await store.resume_waits(paid("A1", "e-2"), now + 2) == []  # a second match: once
    assert (await statuses(store, other))["paid"] == "waiting"
    claimed = [c for t in await store.claim_ready(now + 2, W) for c in t.claims if c.run_id == run_id]
    assert [c.step for c in claimed] == ["ship"]
    event = claimed[0].inputs["payment"]
    assert event["id"] == "e-1" and event["data"] == {"order": {"id": "A1"}} and event["source"] == "/shop"
    view = await store.get_run(run_id)
    assert view is not None
    step = {s.name: s for s in view.steps}["paid"]
    assert step.status == "succeeded" and step.outputs is not None and step.outputs["event"]["id"] == "e-1"


async def test_an_event_resumes_every_current_waiter_and_any_project_from_a_topic(store: RunStore) -> None:
    now = time.time()
    await store.ensure_project("shop", now)
    first, second = await waiting_run(store, now, "A1"), await waiting_run(store, now, "A1")
    elsewhere = await waiting_run(store, now, "A1", project="shop")
    resumed = await store.resume_waits(paid("A1"), now + 1)  # posted for "default": its project's only
    assert sorted(t.run_id for t in resumed) == sorted([first, second])
    assert (await statuses(store, elsewhere))["paid"] == "waiting"
    from_topic = await store.resume_waits(paid("A1", "e-9", project=None), now + 1)  # no project named
    assert [t.run_id for t in from_topic] == [elsewhere]


async def test_the_timeout_fails_the_step_and_a_late_event_changes_nothing(store: RunStore) -> None:
    now = time.time()
    run_id = await waiting_run(store, now, "A1")
    assert [t for t in await store.fire_timers(now + 10) if t.run_id == run_id] == []
    fired = [t for t in await store.fire_timers(now + 3601) if t.run_id == run_id]
    assert [t.run_status.value for t in fired] == ["failed"]
    assert await store.resume_waits(paid("A1"), now + 3602) == []
    view = await store.get_run(run_id)
    assert view is not None and view.status == "failed"
    assert view.error is not None and view.error["type"] == "EventWaitTimeout" and view.error["step"] == "paid"
    assert await statuses(store, run_id) == {"place": "succeeded", "paid": "failed", "ship": "skipped"}


async def test_a_cancelled_run_no_longer_waits(store: RunStore) -> None:
    now = time.time()
    run_id = await waiting_run(store, now, "A1")
    await store.cancel_run(run_id, now + 1, "default")
    assert await store.resume_waits(paid("A1"), now + 2) == []
    assert (await statuses(store, run_id))["paid"] == "cancelled"
