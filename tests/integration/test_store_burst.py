"""A burst of run starts on a real Postgres with a tiny pool: every start waits its turn in the
admission gate (``adapters/sqlalchemy/admission.py``), none fails on the pool's checkout timeout, and a step of a
run already going is recorded ahead of the burst's tail."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from tests.integration.conftest import _postgres_database
from tests.integration.test_store_concurrency import W, new_run

BURST = 400


async def _tiny_pool_store() -> SqlAlchemyStore:
    # One connection plus one of overflow, and a checkout timeout far shorter than the burst takes.
    store = SqlAlchemyStore(Database(await _postgres_database(), pool_size=1, pool_timeout=0.1))
    await store.ensure_project("default", 0.0)
    return store


async def test_a_burst_longer_than_the_pool_timeout_starts_every_run() -> None:
    store = await _tiny_pool_store()
    try:
        started = time.perf_counter()
        created = await asyncio.gather(*[store.create_run(new_run({"x": i}), time.time(), W) for i in range(BURST)])
        took = time.perf_counter() - started
        assert took > 0.1, f"the burst took {took:.3f} s: too short to prove anything about the timeout"
        assert len({c.run_id for c in created}) == BURST
        assert all(len(c.claims) == 1 for c in created)
        statuses = await asyncio.gather(*[store.run_status(c.run_id) for c in created])
        assert all(s is not None and s[0] == "running" for s in statuses)
    finally:
        await store.close()


async def test_a_running_step_completes_ahead_of_a_burst_of_new_runs() -> None:
    store = await _tiny_pool_store()
    try:
        going = await store.create_run(new_run({"x": 1}), time.time(), W)
        finished_at: dict[str, float] = {}

        async def start(i: int) -> None:
            await store.create_run(new_run({"x": i}), time.time(), W)
            finished_at[f"start{i}"] = time.perf_counter()

        async def complete() -> None:
            claim = going.claims[0]
            outcome = Outcome.succeeded({"result": 1})
            await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), W)
            finished_at["complete"] = time.perf_counter()

        burst = [asyncio.create_task(start(i)) for i in range(BURST)]
        await asyncio.sleep(0)  # the burst is queued first
        await asyncio.gather(complete(), *burst)
        order = sorted(finished_at, key=finished_at.__getitem__)
        assert order.index("complete") < 10, f"the completion finished {order.index('complete')}th of {len(order)}"
    finally:
        await store.close()


async def test_a_burst_runs_on_the_pools_own_connections_without_opening_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Counted where asyncpg opens them: a transaction admitted beyond the pool's size used to take an
    # overflow connection, opened for it and closed on its return (with every statement prepared again).
    opened = 0
    connect = asyncpg.connect

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal opened
        opened += 1
        return await connect(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", counted)
    store = SqlAlchemyStore(Database(await _postgres_database(), pool_size=3))
    await store.ensure_project("default", 0.0)
    try:
        opened = 0  # creating the database and the project opened some already
        await asyncio.gather(*[store.create_run(new_run({"x": i}), time.time(), W) for i in range(BURST)])
        assert opened <= 3, f"a burst opened {opened} connections through a pool of 3"
    finally:
        await store.close()
