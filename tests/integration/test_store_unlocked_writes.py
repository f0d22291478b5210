"""A completion on Postgres reads its run before locking it, and writes (and locks) it with the COMMIT
(``transitions.SqlRunStates``, ``batches.record``): what changed the run in between must win, and the
completion be planned again under the lock. Real Postgres, real concurrent transactions."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy.util import await_only

from knflow_control_plane.adapters.sqlalchemy import batches
from knflow_control_plane.adapters.sqlalchemy.batches import Completion
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.adapters.sqlalchemy.transitions import SqlRunStates
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.domain.records import Claim
from tests.integration.conftest import _postgres_database
from tests.integration.test_store_concurrency import WIDTH, W, joined_once, new_run, succeed
from tests.integration.test_store_round_trips import round_trips


async def _store(url: str) -> SqlAlchemyStore:
    store = SqlAlchemyStore(Database(url, pool_size=4), outbox=True)
    await store.ensure_project("default", 0.0)
    return store


@pytest.fixture
async def pg_url() -> str:
    return await _postgres_database()


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[SqlAlchemyStore]:
    store = await _store(pg_url)
    yield store
    await store.close()


def _between_read_and_write(monkeypatch: pytest.MonkeyPatch, change: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run ``change`` (another transaction, committed) once, after the next transition read and planned
    its run and before it wrote it: where the read outside the lock leaves room for it. What it
    returned, once run."""
    persist = SqlRunStates.persist
    done: list[Any] = []
    started: list[bool] = []

    def persist_after_the_change(self: SqlRunStates, plans: Any) -> None:
        if not started:  # set first: the change persists too
            started.append(True)
            done.append(await_only(change()))  # in the transition's greenlet: the change commits meanwhile
        persist(self, plans)

    monkeypatch.setattr(SqlRunStates, "persist", persist_after_the_change)
    return done


def _success(claim: Claim, value: int) -> Completion:
    return Completion(claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded({"result": value}), time.time(), W)


async def _direct(store: SqlAlchemyStore) -> asyncpg.Connection:
    """A plain connection to the store's database, as a replica from before migration 0017 has one: it
    never says it bumps versions (an admin's, in the tests that only look)."""
    return await asyncpg.connect(store.db.url.replace("postgresql+asyncpg://", "postgresql://"))


async def test_a_run_cancelled_between_the_read_and_the_write_stays_cancelled(
    pg_store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    cancelled = _between_read_and_write(monkeypatch, lambda: pg_store.cancel_run(seed.run_id, time.time(), "default"))
    with round_trips() as sent:
        done = await pg_store.complete(
            seed.run_id, seed.step, seed.attempt_id, Outcome.succeeded({"result": 1}), time.time(), W
        )
    assert cancelled and cancelled[0].run_status == "cancelled"
    assert done.duplicate and done.claims == []  # the late reply of an abandoned attempt
    assert "ROLLBACK" in sent  # the first try, planned from the read before the cancel, wrote nothing
    run = await pg_store.get_run(seed.run_id)
    assert run is not None and run.status == "cancelled"
    assert {s.status for s in run.steps} == {"cancelled"}
    assert [a.status for s in run.steps for a in s.attempts] == ["cancelled"]


async def test_a_write_planned_before_the_run_moved_fails_whole(
    pg_store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself, without the store's second try: SQLSTATE 40001, and nothing of it written."""
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    _between_read_and_write(monkeypatch, lambda: pg_store.cancel_run(seed.run_id, time.time(), "default"))
    unlocked = (batches.complete_batch, [_success(seed, 7)], random.Random(1), True, True)
    with pytest.raises(asyncpg.SerializationError, match="runs changed since they were read"):
        await pg_store.db.run_raw(*unlocked, reads_first=True)
    run = await pg_store.get_run(seed.run_id)
    assert run is not None and run.status == "cancelled" and {s.status for s in run.steps} == {"cancelled"}
    assert not [row for row in await pg_store.take_outbox(1_000) if row["type"] == "dev.knflow.step.succeeded"]


async def test_a_run_deleted_between_the_read_and_the_write_is_not_written_again(
    pg_store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pg_store.ensure_project("doomed", 0.0)
    created = await pg_store.create_run(dataclasses.replace(new_run({"x": 1}), project="doomed"), time.time(), W)
    seed = created.claims[0]
    _between_read_and_write(monkeypatch, lambda: pg_store.delete_project("doomed"))
    done = await pg_store.complete(
        seed.run_id, seed.step, seed.attempt_id, Outcome.succeeded({"result": 1}), time.time(), W
    )
    assert done.duplicate and done.claims == []
    assert await pg_store.get_run(seed.run_id) is None
    admin = await _direct(pg_store)
    try:
        for table in ("steps", "attempts"):
            assert await admin.fetchval(f"SELECT count(*) FROM {table} WHERE run_id = $1", seed.run_id) == 0
    finally:
        await admin.close()


async def test_two_replicas_completing_one_fan_out_release_its_join_once(pg_url: str) -> None:
    one, other = await _store(pg_url), await _store(pg_url)
    try:
        created = await one.create_run(new_run({"x": 1}), time.time(), W)
        siblings = await succeed(one, created.claims[0], 1)
        assert len(siblings) == WIDTH
        with round_trips() as sent:
            released = await asyncio.gather(*[succeed(one if i % 2 else other, c, 1) for i, c in enumerate(siblings)])
        await joined_once(other, created.run_id, released)
        # each replica's batches read the run unlocked; those that found it moved were tried again locked
        assert sum(m.startswith("WITH keys AS") for m in sent) >= 2
    finally:
        await one.close()
        await other.close()


# -- a rolling upgrade across migration 0017: replicas from before it change runs without the version ----
async def _version(connection: asyncpg.Connection, run_id: str) -> int:
    return int(await connection.fetchval("SELECT version FROM runs WHERE id = $1", run_id))


async def test_an_old_replicas_writes_bump_the_version_and_a_new_replicas_do_not_twice(
    pg_store: SqlAlchemyStore,
) -> None:
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    old = await _direct(pg_store)
    try:
        before = await _version(old, seed.run_id)
        await old.execute("UPDATE steps SET lease_expires_at = $2 WHERE run_id = $1", seed.run_id, time.time() + 60)
        after_steps = await _version(old, seed.run_id)
        await old.execute("UPDATE runs SET remaining = remaining WHERE id = $1", seed.run_id)
        after_run = await _version(old, seed.run_id)
        assert before < after_steps < after_run  # each of its statements moved the run
        await succeed(pg_store, seed, 1)  # a new replica's transition: its own bump, once
        assert await _version(old, seed.run_id) == after_run + 1
    finally:
        await old.close()


async def test_an_old_replica_taking_a_step_over_between_the_read_and_the_write_wins(
    pg_store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old replica expires the attempt's lease and runs the step again (as the code before 0017 did,
    without the version): the new replica's late success of the first attempt must be refused, not
    written over the second one from its read before the lock."""
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    old = await _direct(pg_store)

    async def take_over() -> None:
        async with old.transaction():
            await old.execute(
                "UPDATE steps SET attempts = attempts + 1, lease_owner = 'old-replica' WHERE run_id = $1 AND name = $2",
                seed.run_id,
                seed.step,
            )
            await old.execute(
                "UPDATE attempts SET status = 'lost', finished_at = $2 WHERE id = $1", seed.attempt_id, time.time()
            )

    try:
        _between_read_and_write(monkeypatch, take_over)
        with round_trips() as sent:
            done = await pg_store.complete(
                seed.run_id, seed.step, seed.attempt_id, Outcome.succeeded({"result": 1}), time.time(), W
            )
        assert "ROLLBACK" in sent  # the first try, planned from the read before the take-over, wrote nothing
        assert done.duplicate and done.claims == []
        step = await old.fetchrow(
            "SELECT status, attempts, lease_owner, outputs FROM steps WHERE run_id = $1 AND name = $2",
            seed.run_id,
            seed.step,
        )
        assert (step["status"], step["attempts"], step["lease_owner"]) == ("running", 2, "old-replica")
        assert await old.fetchval("SELECT status FROM attempts WHERE id = $1", seed.attempt_id) == "lost"
    finally:
        await old.close()


async def test_a_new_replicas_connections_made_again_still_bump_once(pg_store: SqlAlchemyStore) -> None:
    """Postgres restarted (or a proxy cut the connections): the new ones say again that this replica
    bumps versions itself, or the triggers would bump a second time for its own writes."""
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    old = await _direct(pg_store)
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    try:
        assert await old.fetchval(f"SELECT count(pg_terminate_backend(pid)) {others}") >= 1
        await asyncio.sleep(0.2)  # the pool's connections see their end
        before = await _version(old, seed.run_id)
        await succeed(pg_store, seed, 1)
        assert await _version(old, seed.run_id) == before + 1
        assert await old.fetchval(f"SELECT count(*) {others}") >= 1  # served by a connection made again
    finally:
        await old.close()
