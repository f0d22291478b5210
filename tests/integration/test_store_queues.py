"""Concurrency queues (``Concurrency(key, limit)``), one contract for the in-memory store, SQLite and a real
Postgres: runs over their key's limit are created ``queued`` with a place, start in order (priority, then
arrival) in the transaction that ends a run of their key, leave the queue when cancelled, and queue again
when retried."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.adapters.sqlalchemy.tables import runs
from knflow_control_plane.domain.concurrency import RunConcurrency, queue_key
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, TransitionError, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, QueuePlace, RunFilter, Transition, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action
def charge(customer: str) -> str:
    return customer


@workflow
def billing(customer: str) -> object:
    return charge(customer=customer)


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


def keyed(customer: str, *, limit: int = 1, priority: int = 0, **extra: Any) -> NewRun:
    spec = billing.spec
    now = time.time()
    return NewRun(
        new_run_id(now),
        "default",
        spec.name,
        spec.version,
        {"customer": customer},
        plan_run(spec, spec.actions),
        spec.result.model_dump(mode="json") if spec.result else None,
        concurrency=RunConcurrency(queue_key("default", "billing", customer), limit, priority),
        **extra,
    )


async def finish(store: RunStore, claim: Claim) -> Transition:
    outcome = Outcome.succeeded({"result": claim.inputs["customer"]})
    return await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), W)


async def status(store: RunStore, run_id: str) -> tuple[str, QueuePlace | None]:
    run = await store.get_run(run_id)
    assert run is not None
    return run.status, run.queue


async def test_runs_over_the_limit_queue_in_order_and_start_as_runs_of_their_key_end(store: RunStore) -> None:
    first = await store.create_run(keyed("acme"), time.time(), W)
    second = await store.create_run(keyed("acme"), time.time(), W)
    third = await store.create_run(keyed("acme"), time.time(), W)
    other = await store.create_run(keyed("globex"), time.time(), W)
    assert first.run_status.value == "running" and len(first.claims) == 1
    assert other.run_status.value == "running" and len(other.claims) == 1  # another key: its own queue
    assert second.run_status.value == "queued" and second.claims == []
    assert third.run_status.value == "queued" and third.claims == []
    assert await status(store, second.run_id) == ("queued", QueuePlace("acme", 1))
    assert await status(store, third.run_id) == ("queued", QueuePlace("acme", 2))
    assert await status(store, first.run_id) == ("running", None)
    assert await store.finished_among([second.run_id]) == set()  # queued is not finished

    ended = await finish(store, first.claims[0])
    # the transaction that ended the first run started the second: its claim comes with it
    assert ended.run_status.value == "succeeded"
    assert [c.run_id for c in ended.claims] == [second.run_id]
    assert any(e.type.endswith("run.started") and e.run_id == second.run_id for e in ended.events)
    assert await status(store, second.run_id) == ("running", None)
    assert await status(store, third.run_id) == ("queued", QueuePlace("acme", 1))

    listed = {r.run_id: r for r in (await store.list_runs(RunFilter(status="queued"))).runs}
    assert list(listed) == [third.run_id] and listed[third.run_id].queue == QueuePlace("acme", 1)

    ended = await finish(store, ended.claims[0])
    assert [c.run_id for c in ended.claims] == [third.run_id]
    await finish(store, ended.claims[0])
    assert await status(store, third.run_id) == ("succeeded", None)


async def test_a_higher_priority_goes_first_then_arrival_order(store: RunStore) -> None:
    first = await store.create_run(keyed("acme"), time.time(), W)
    low = await store.create_run(keyed("acme"), time.time(), W)
    high = await store.create_run(keyed("acme", priority=10), time.time(), W)
    also_high = await store.create_run(keyed("acme", priority=10), time.time(), W)
    assert (await status(store, high.run_id))[1] == QueuePlace("acme", 1)
    assert (await status(store, also_high.run_id))[1] == QueuePlace("acme", 2)
    assert (await status(store, low.run_id))[1] == QueuePlace("acme", 3)
    ended = await finish(store, first.claims[0])
    assert [c.run_id for c in ended.claims] == [high.run_id]
    ended = await finish(store, ended.claims[0])
    assert [c.run_id for c in ended.claims] == [also_high.run_id]


async def test_a_limit_above_one_runs_that_many_at_once(store: RunStore) -> None:
    made = [await store.create_run(keyed("acme", limit=2), time.time(), W) for _ in range(4)]
    assert [t.run_status.value for t in made] == ["running", "running", "queued", "queued"]
    ended = await finish(store, made[1].claims[0])
    assert [c.run_id for c in ended.claims] == [made[2].run_id]
    assert (await status(store, made[3].run_id))[1] == QueuePlace("acme", 1)


async def test_cancelling_a_queued_run_takes_it_out_of_the_queue(store: RunStore) -> None:
    first = await store.create_run(keyed("acme"), time.time(), W)
    second = await store.create_run(keyed("acme"), time.time(), W)
    third = await store.create_run(keyed("acme"), time.time(), W)
    with pytest.raises(TransitionError, match="while it is queued"):  # a queued run is not retried: it waits
        await store.retry_run(second.run_id, time.time(), "default")
    cancelled = await store.cancel_run(second.run_id, time.time(), "default")
    assert cancelled is not None and cancelled.run_status.value == "cancelled" and cancelled.claims == []
    assert await status(store, second.run_id) == ("cancelled", None)
    assert await status(store, third.run_id) == ("queued", QueuePlace("acme", 1))
    ended = await finish(store, first.claims[0])
    assert [c.run_id for c in ended.claims] == [third.run_id]
    run = await store.get_run(second.run_id)
    assert run is not None and {s.status for s in run.steps} == {"cancelled"}


async def test_cancelling_a_running_run_starts_the_next(store: RunStore) -> None:
    first = await store.create_run(keyed("acme"), time.time(), W)
    second = await store.create_run(keyed("acme"), time.time(), W)
    await store.cancel_run(first.run_id, time.time(), "default")
    # a cancel has no worker: the next run's first step is ready for the poll to claim
    assert (await status(store, second.run_id))[0] == "running"
    claimed = [c for t in await store.claim_ready(time.time(), W) for c in t.claims]
    assert [c.run_id for c in claimed] == [second.run_id]


async def test_a_retried_run_queues_again_behind_those_waiting(store: RunStore) -> None:
    first = await store.create_run(keyed("acme"), time.time(), W)
    ended = await finish(store, first.claims[0])
    assert ended.run_status.value == "succeeded" and ended.claims == []
    again = await store.retry_run(first.run_id, time.time(), "default", "charge")
    assert again is not None and again.run_status.value == "running"  # room: started in the same transaction
    waiting = await store.create_run(keyed("acme"), time.time(), W)
    assert waiting.run_status.value == "queued"
    claimed = [c for t in await store.claim_ready(time.time(), W) for c in t.claims]
    assert [c.run_id for c in claimed] == [first.run_id]
    ended = await finish(store, claimed[0])
    assert [c.run_id for c in ended.claims] == [waiting.run_id]
    again = await store.retry_run(first.run_id, time.time(), "default", "charge")
    assert again is not None and again.run_status.value == "queued"  # the key is busy: it waits its turn
    assert (await status(store, first.run_id))[1] == QueuePlace("acme", 1)
    ended = await finish(store, ended.claims[0])
    assert [c.run_id for c in ended.claims] == [first.run_id]


async def test_keyed_creation_is_idempotent_and_admit_waiting_has_nothing_to_do(store: RunStore) -> None:
    first = await store.create_run(keyed("acme", idempotency=("/orders", "e1")), time.time(), W)
    again = await store.create_run(keyed("acme", idempotency=("/orders", "e1")), time.time(), W)
    assert again.duplicate and again.run_id == first.run_id
    assert len((await store.list_runs(RunFilter())).runs) == 1
    assert await store.admit_waiting(time.time(), W) == []


async def end_behind_the_queues_back(store: RunStore, run_id: str) -> None:
    """A run of the key ends without its transaction starting the next (as when the next run's row was held
    by another transaction and passed over): only the poll's catch-up can start it."""
    if isinstance(store, MemoryStore):
        store._runs[run_id]["status"] = "succeeded"
        return
    assert isinstance(store, SqlAlchemyStore)
    await store.db.run(lambda conn: conn.execute(runs.update().where(runs.c.id == run_id).values(status="succeeded")))


async def test_the_polls_catch_up_starts_queued_runs_whose_key_has_room(store: RunStore) -> None:
    first = await store.create_run(keyed("acme"), time.time(), W)
    second = await store.create_run(keyed("acme", limit=1), time.time(), W)
    third = await store.create_run(keyed("acme", limit=1), time.time(), W)
    await end_behind_the_queues_back(store, first.run_id)
    assert await status(store, second.run_id) == ("queued", QueuePlace("acme", 1))
    started = await store.admit_waiting(time.time(), W)
    assert [(t.run_id, [c.run_id for c in t.claims]) for t in started] == [(second.run_id, [second.run_id])]
    assert (await status(store, second.run_id))[0] == "running"
    assert await status(store, third.run_id) == ("queued", QueuePlace("acme", 1))
    assert await store.admit_waiting(time.time(), W) == []  # the key is full again


async def test_a_queued_runs_timeout_counts_from_when_it_starts(store: RunStore) -> None:
    now = time.time()
    first = await store.create_run(keyed("acme", timeout=100.0), now, W)
    second = await store.create_run(keyed("acme", timeout=100.0), now, W)
    assert second.run_status.value == "queued"
    expired = await store.expire_runs(now + 150)  # the first's deadline passed; the second never started
    assert [t.run_id for t in expired] == [first.run_id]
    assert (await status(store, second.run_id))[0] == "running"  # its end started the second, at now + 150
    assert await store.expire_runs(now + 200) == []  # 50 s into its 100
    assert [t.run_id for t in await store.expire_runs(now + 251)] == [second.run_id]
