"""Creating a run on SQLite and a real Postgres: on Postgres one statement when every root can start at
once (``sqlalchemy.creation.create_many``, no BEGIN/COMMIT), the full transaction when not; the same
run, attempts and events either way."""

from __future__ import annotations

import asyncio
import time

from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.records import Worker
from tests.integration.test_store_batches import _statements
from tests.integration.test_store_contract import W, new_run


async def _outbox_types(store: SqlAlchemyStore) -> list[str]:
    return [row["type"] for row in await store.take_outbox(100)]


async def test_a_run_whose_roots_all_start_is_one_statement_on_postgres(store: SqlAlchemyStore) -> None:
    with _statements() as ran:
        created = await store.create_run(new_run(), time.time(), W)
    if store.db.dialect == "postgresql":
        assert len(ran) == 1, ran
    assert sorted((c.step, c.number, c.inputs) for c in created.claims) == [
        ("left", 1, {"x": 1}),
        ("right", 1, {"x": 1}),
    ]
    assert [e.type for e in created.events] == ["dev.knflow.run.started"] + ["dev.knflow.step.started"] * 2
    assert await _outbox_types(store) == [e.type for e in created.events]
    run = await store.get_run(created.run_id)
    assert run is not None and run.status == "running"
    steps = {s.name: s for s in run.steps}
    assert {name: s.status for name, s in steps.items()} == {"left": "running", "right": "running", "join": "pending"}
    [attempt] = steps["left"].attempts
    assert (attempt.attempt_id, attempt.status, attempt.inputs, attempt.worker) == (
        f"{created.run_id}/left/1",
        "running",
        {"x": 1},
        W.name,
    )
    assert steps["left"].started_at is not None and steps["join"].started_at is None


async def test_a_run_with_room_for_one_root_claims_one_and_leaves_the_other_ready(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), Worker("w1", 30.0, capacity=1))
    assert [(c.step, c.number) for c in created.claims] == [("left", 1)]
    assert [e.type for e in created.events] == ["dev.knflow.run.started", "dev.knflow.step.started"]
    assert await _outbox_types(store) == [e.type for e in created.events]
    run = await store.get_run(created.run_id)
    assert run is not None
    assert {s.name: s.status for s in run.steps} == {"left": "running", "right": "ready", "join": "pending"}
    claimed = [c for t in await store.claim_ready(time.time(), W) for c in t.claims]
    assert [(c.step, c.number) for c in claimed] == [("right", 1)]


async def test_a_run_created_without_a_worker_claims_nothing(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), None)
    assert created.claims == []
    assert await _outbox_types(store) == ["dev.knflow.run.started"]
    run = await store.get_run(created.run_id)
    assert run is not None
    assert {s.name: s.status for s in run.steps} == {"left": "ready", "right": "ready", "join": "pending"}


async def test_runs_started_together_are_created_together_and_a_repeated_event_creates_one(
    store: SqlAlchemyStore,
) -> None:
    key = ("/sources/shop", "order-1")  # one trigger event delivered twice, in the same burst
    news = [new_run() for _ in range(30)] + [new_run(idempotency=key), new_run(idempotency=key)]
    with _statements() as ran:
        created = await asyncio.gather(*[store.create_run(new, time.time(), W) for new in news])
    if store.db.dialect == "postgresql":
        # The first alone, everything that queued meanwhile in one more, and a read of the repeat's run.
        assert len(ran) <= 4, ran
    fresh = [t for t in created if t.created]
    [repeat] = [t for t in created if not t.created]
    assert len(fresh) == 31 and repeat.duplicate and not repeat.claims and not repeat.events
    assert repeat.run_id in {t.run_id for t in created[30:] if t.created}
    assert all(sorted(c.step for c in t.claims) == ["left", "right"] for t in fresh)
    statuses = await asyncio.gather(*[store.run_status(t.run_id) for t in fresh])
    assert all(s is not None and s[0] == "running" for s in statuses)
    assert len(await store.take_outbox(1000)) == 3 * 31  # run.started and two step.started each
