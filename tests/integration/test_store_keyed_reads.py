"""On a real Postgres, a completion's load and its step writes read the steps they name by primary key,
not every step of the run: in a fan-out's run of a thousand steps, reading them all for each batch of
completions made the run quadratic (``dialects.LOAD_PG_NAMED``, ``dialect_writes.PERSIST_PG``).

Each statement is run under ``EXPLAIN (ANALYZE)`` with the settings of the hot transactions; the rows the
plan read from ``steps`` are counted, whatever the plan's shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow_control_plane.adapters.sqlalchemy.database import _BEGIN_KEYED
from knflow_control_plane.adapters.sqlalchemy.dialect_writes import PERSIST_PG, Writes, document
from knflow_control_plane.adapters.sqlalchemy.dialects import LOAD_PG_NAMED
from knflow_control_plane.adapters.sqlalchemy.raw import Plans
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.records import Claim
from tests.integration.conftest import sql_store
from tests.integration.test_store_concurrency import WIDTH, W, new_run, succeed


@pytest.fixture
async def pg_store(tmp_path: Path) -> AsyncIterator[SqlAlchemyStore]:
    async with sql_store("postgres", tmp_path) as opened:
        yield opened


async def _running_siblings(store: SqlAlchemyStore) -> list[Claim]:
    created = await store.create_run(new_run({"x": 1}), time.time(), W)
    return await succeed(store, created.claims[0], 1)


async def _steps_read(store: SqlAlchemyStore, statement: Any, params: dict[str, Any]) -> int:
    """The rows the statement's plan read from ``steps`` (every scan of it, every loop), in a transaction
    rolled back (the writes' statement is run for real)."""
    _plan, sql, args = Plans(store.db.sync_engine.dialect).bind(statement, params)
    engine = store.db._async
    assert engine is not None  # Postgres: the async engine
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        await raw.execute(_BEGIN_KEYED + "; SET LOCAL plan_cache_mode = force_generic_plan")
        try:
            explained = await raw.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
        finally:
            await raw.execute("ROLLBACK")
    plan = json.loads(explained) if isinstance(explained, str) else explained  # asyncpg: ``json`` as text
    return _rows_of(plan[0]["Plan"], "steps")


def _rows_of(node: dict[str, Any], table: str) -> int:
    own = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == table else 0
    return own + sum(_rows_of(child, table) for child in node.get("Plans", ()))


async def test_a_completion_in_a_wide_run_loads_only_its_step_and_dependents(pg_store: SqlAlchemyStore) -> None:
    siblings = await _running_siblings(pg_store)
    one = siblings[0]
    keys = [(one.run_id, one.step)]
    params = {"keys": keys, "b_runs": [one.run_id], "bind": [], "bound": 1, "every": False}
    # the sibling (named, then once more for the lookup of its dependents) and the join it releases
    read = await _steps_read(pg_store, LOAD_PG_NAMED, params)
    assert read <= 3 < WIDTH


async def test_a_batch_of_completions_loads_each_step_once(pg_store: SqlAlchemyStore) -> None:
    siblings = await _running_siblings(pg_store)
    keys = [(c.run_id, c.step) for c in siblings[:10]]
    params = {"keys": keys, "b_runs": [siblings[0].run_id], "bind": [], "bound": 10, "every": False}
    # ten named (each read twice: itself, and its dependents' list), and once the join all ten release
    read = await _steps_read(pg_store, LOAD_PG_NAMED, params)
    assert read <= 21 < 2 * WIDTH


async def test_writing_a_step_of_a_wide_run_looks_up_that_step_only(pg_store: SqlAlchemyStore) -> None:
    one = (await _running_siblings(pg_store))[0]
    now = time.time()
    row = {
        **dict.fromkeys(
            ("w_ready_at", "w_error", "w_started_at", "w_lease_owner", "w_lease_expires_at", "w_wake_at"), None
        ),
        **{"w_waiting_on": 0, "w_attempts": 1, "w_budget_start": 0, "w_infra_failures": 0, "w_finished_at": now},
        **{"run_key": one.run_id, "step_key": one.step, "w_status": "succeeded", "set_outputs": True},
        "outputs": {"result": 1},
    }
    writes = document(Writes(steps=[row]))
    params = {"writes": writes, "end_ids": [], "run_ids": [one.run_id], "now": now}
    # the Update node counts the row it wrote, the index scan the row it found
    read = await _steps_read(pg_store, PERSIST_PG, params)
    assert read <= 2 < WIDTH
