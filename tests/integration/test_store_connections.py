"""The Postgres store's connections: one that Postgres closed (a restart, a proxy's idle cut) is replaced,
so the transaction after it succeeds instead of every later one failing on the dead connection; and one
whose transaction was cancelled mid-statement is handed on clean (asyncpg cancels, the ROLLBACK runs)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from knflow_control_plane.adapters.sqlalchemy import creation
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from tests.integration.conftest import _postgres_database
from tests.integration.test_store_concurrency import W, new_run


async def _terminate_every_other_session(url: str) -> int:
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        terminated: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return terminated
    finally:
        await admin.close()


async def test_connections_postgres_closed_are_replaced_before_the_next_transactions() -> None:
    url = await _postgres_database()
    store = SqlAlchemyStore(Database(url, pool_size=2))
    await store.ensure_project("default", 0.0)
    try:
        # Both pooled connections in use once, so both are kept, then both cut by the server.
        await asyncio.gather(*[store.create_run(new_run({"x": i}), time.time(), W) for i in range(4)])
        assert await _terminate_every_other_session(url) >= 1
        await asyncio.sleep(0.2)  # the client notices the closed sockets
        created = [await store.create_run(new_run({"x": i}), time.time(), W) for i in range(4)]
        statuses = await asyncio.gather(*[store.run_status(c.run_id) for c in created])
        assert [s[0] if s else None for s in statuses] == ["running"] * 4
    finally:
        await store.close()


async def test_a_transaction_cancelled_mid_statement_leaves_nothing_behind_for_the_next_one() -> None:
    url = await _postgres_database()
    store = SqlAlchemyStore(Database(url, pool_size=1))  # one connection: the next transaction gets it
    await store.ensure_project("default", 0.0)
    begun = new_run({"x": 0})

    def create_then_stall(conn: Any) -> None:
        creation.create_run(conn, begun, time.time(), W, random.Random(0), False)
        conn.execute(sa.select(sa.func.pg_sleep(5)))

    try:
        stalled = asyncio.ensure_future(store.db.run_raw(create_then_stall))
        await asyncio.sleep(0.5)
        stalled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stalled
        after = await asyncio.wait_for(store.create_run(new_run({"x": 1}), time.time(), W), 5.0)
        assert (await store.run_status(after.run_id) or ("",))[0] == "running"
        assert await store.run_status(begun.run_id) is None  # the cancelled creation was rolled back
    finally:
        await store.close()
