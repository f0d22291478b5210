"""The plans of the batched hot statements on a real Postgres: index lookups, never a scan of a table.

Their JSON recordset parameters are estimated at 100 rows whatever their size, so on tables of a few
thousand rows the planner would rather hash-join them with a scan of the whole table (milliseconds a
statement, growing with the table). The hot transactions (``Database.run_raw``) keep joins on indexes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from knflow_control_plane.adapters.sqlalchemy import dialect_writes, dialects
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.raw import RawConnection
from knflow_control_plane.adapters.sqlalchemy.raw_asyncpg import AsyncpgDriver, literal
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.records import Claim
from tests.integration.conftest import _postgres_database
from tests.integration.test_store_concurrency import W, new_run, succeed

RUNS = 40  # x 62 steps: tables the planner would rather scan than look up 60 keys in


@pytest.fixture
async def postgres_store() -> AsyncIterator[SqlAlchemyStore]:
    store = SqlAlchemyStore(Database(await _postgres_database()), outbox=True)
    await store.ensure_project("default", 0.0)
    yield store
    await store.close()


def _explain(conn: RawConnection, statement: Any, params: dict[str, Any]) -> str:
    _, sql, args = conn._plans.bind(statement, params)
    rows, _ = conn._driver.run("EXPLAIN " + sql, args, True)
    return "\n".join(str(row[0]) for row in rows)


async def _populated(store: SqlAlchemyStore) -> list[Claim]:
    """Siblings of two runs, running, among RUNS runs; the tables analysed."""
    siblings = []
    for _ in range(RUNS):
        created = await store.create_run(new_run({"x": 1}), time.time(), W)
        siblings.append(await succeed(store, created.claims[0], 1))
    await store.db.read_raw(lambda conn: conn._driver.run("ANALYZE", [], False))
    return siblings[0] + siblings[-1]


async def test_a_batch_of_successes_finds_its_rows_by_index(postgres_store: SqlAlchemyStore) -> None:
    claims = await _populated(postgres_store)
    params = _load_params(claims)
    plan = await postgres_store.db.run_raw(_explain, dialects.LOAD_PG, params)
    assert "Seq Scan" not in plan, plan
    assert _by_index(plan, "pk_runs") and _by_index(plan, "pk_steps"), plan


def _load_params(claims: list[Claim]) -> dict[str, Any]:
    """A load's parameters for the completions of ``claims`` (their runs, exactly their steps)."""
    return {
        "b_runs": sorted({c.run_id for c in claims}),
        "keys": [(c.run_id, c.step) for c in claims],
        "bind": [],
        "bound": len(claims),
        "due": False,
        "every": False,
        "now": time.time(),
    }


def _by_index(plan: str, index: str) -> bool:
    """Whether the plan reads ``index``: an index scan, or a bitmap scan of it (the planner picks either,
    by the table's statistics of the moment)."""
    return f"Index Scan using {index} " in plan or f"Bitmap Index Scan on {index} " in plan


def _writes(claims: list[Claim]) -> dict[str, Any]:
    """``PERSIST_PG``'s parameters: each claim's attempt ended and its step claimed again, the first run
    ended."""
    now = time.time()
    step = {"status": "running", "waiting_on": 0, "ready_at": now, "attempts": 2, "budget_start": 0}
    step |= {"infra_failures": 0, "error": None, "started_at": now, "finished_at": None, "lease_owner": W.name}
    step = {f"w_{k}": v for k, v in step.items()} | {"w_lease_expires_at": now + W.lease, "w_wake_at": None}
    step |= {"set_outputs": False, "outputs": None}
    again = {"number": 2, "status": "running", "inputs": {}, "outputs": None, "error": None, "logs": ""}
    again |= {"worker": W.name, "started_at": now, "finished_at": None}
    run = {"run_key": claims[0].run_id, "w_status": "failed", "w_remaining": 1, "w_error": {"type": "X"}}
    writes = dialect_writes.Writes(
        steps=[{"run_key": c.run_id, "step_key": c.step, **step} for c in claims],
        ended=[
            {"w_id": c.attempt_id, "w_status": "lost", "w_outputs": None, "w_error": None, "w_logs": None}
            for c in claims
        ],
        started=[{"id": f"{c.attempt_id}-2", "run_id": c.run_id, "step": c.step, **again} for c in claims],
        runs=[run | {"w_result": None, "w_finished_at": None}],
    )
    return {
        "writes": dialect_writes.document(writes),
        "end_ids": [c.attempt_id for c in claims],
        "run_ids": sorted({c.run_id for c in claims}),
        "now": now,
    }


async def test_the_writes_of_several_runs_find_their_rows_by_index(postgres_store: SqlAlchemyStore) -> None:
    claims = await _populated(postgres_store)
    params = _writes(claims)
    plan = await postgres_store.db.run_raw(_explain, dialect_writes.PERSIST_PG, params)
    assert "Seq Scan" not in plan, plan
    assert _by_index(plan, "pk_steps") and _by_index(plan, "pk_runs") and _by_index(plan, "pk_attempts"), plan


async def test_the_held_writes_generic_plan_finds_its_rows_by_index(postgres_store: SqlAlchemyStore) -> None:
    """``PERSIST_PG`` is held and runs with a generic plan (``sqlalchemy.raw_asyncpg``): no parameter values
    to plan with, so it must find its rows by index whatever their number."""
    claims = await _populated(postgres_store)
    params = _writes(claims)

    def explain_generic(conn: RawConnection) -> str:
        _, sql, args = conn._plans.bind(dialect_writes.PERSIST_PG, params)
        driver = conn._driver
        assert isinstance(driver, AsyncpgDriver)
        name = driver._prepare(sql)
        driver.run("SET LOCAL plan_cache_mode = force_generic_plan", [], False)
        rows, _ = driver.run(f"EXPLAIN EXECUTE {name}({', '.join(literal(a) for a in args)})", [], True)
        return "\n".join(str(row[0]) for row in rows)

    plan = await postgres_store.db.run_raw(explain_generic)
    assert "$1" in plan or "$5" in plan, plan  # a generic plan: parameters, not values
    assert "Seq Scan" not in plan, plan
    assert _by_index(plan, "pk_steps") and _by_index(plan, "pk_runs"), plan


async def test_the_load_read_before_the_lock_keeps_a_generic_plan_by_index(postgres_store: SqlAlchemyStore) -> None:
    """A completion's load runs outside its transaction (``batches.record``): none of the hot transactions'
    ``SET LOCAL`` settings, no forced generic plan. Its parameters read through one-row subqueries, Postgres
    keeps the generic plan after its five custom trials, and that plan still finds its rows by index."""
    claims = await _populated(postgres_store)
    params = _load_params(claims)

    def explained_seventh_time(conn: RawConnection) -> str:
        _, sql, args = conn._plans.bind(dialects.LOAD_PG_NAMED_UNLOCKED, params)
        driver = conn._driver
        driver.run(f"PREPARE unlocked_load AS {sql}", [], False)
        try:
            for _ in range(7):  # five custom plans, then the generic one is kept
                rows, _ = driver.run(f"EXPLAIN EXECUTE unlocked_load({', '.join(literal(a) for a in args)})", [], True)
            return "\n".join(str(row[0]) for row in rows)
        finally:
            driver.run("DEALLOCATE unlocked_load", [], False)

    plan = await postgres_store.db.read_raw(explained_seventh_time)
    assert "$1" in plan or "$7" in plan, plan  # a generic plan: parameters, not values
    assert "Seq Scan" not in plan and "Hash Join" not in plan, plan
    assert _by_index(plan, "pk_steps") and _by_index(plan, "pk_runs"), plan
