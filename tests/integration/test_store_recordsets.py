"""Rows sent to Postgres as JSON arrays (``statements_pg._recordset``): what they store is what the
planner decided, exactly, on a real Postgres: ``NULL`` where a value is None (JSON columns included),
JSON values whole, times to the last bit, text with any character in it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.statements_pg import positional
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from tests.integration.conftest import _postgres_database
from tests.integration.test_store_concurrency import W, new_run
from tests.integration.test_store_round_trips import AWKWARD


@pytest.fixture
async def database() -> AsyncIterator[tuple[SqlAlchemyStore, asyncpg.Connection]]:
    url = await _postgres_database()
    store = SqlAlchemyStore(Database(url), outbox=True)
    await store.ensure_project("default", 0.0)
    reader = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    yield store, reader
    await reader.close()
    await store.close()


async def test_a_created_run_stores_none_as_null_and_json_whole(
    database: tuple[SqlAlchemyStore, asyncpg.Connection],
) -> None:
    store, reader = database
    now = 1_765_000_000.123456789  # more digits than a float keeps: the float given is the float stored
    created = await store.create_run(new_run({"x": 1, "text": AWKWARD}), now, W)
    run = await reader.fetchrow(
        "SELECT result IS NULL AS no_result, error IS NULL AS no_error, finished_at IS NULL AS open, "
        "inputs->>'text' AS text, created_at FROM runs WHERE id = $1",
        created.run_id,
    )
    assert run is not None
    assert (run["no_result"], run["no_error"], run["open"]) == (True, True, True)
    assert (run["text"], run["created_at"]) == (AWKWARD, now)
    seed = await reader.fetchrow(
        "SELECT status, error IS NULL AS no_error, wait IS NULL AS no_wait, jsonb_typeof(policy) AS policy, "
        "started_at FROM steps WHERE run_id = $1 AND name = 'seed'",
        created.run_id,
    )
    assert seed is not None
    assert dict(seed) == {"status": "running", "no_error": True, "no_wait": True, "policy": "object", "started_at": now}


async def test_a_success_stores_its_outputs_and_clears_what_it_ends(
    database: tuple[SqlAlchemyStore, asyncpg.Connection],
) -> None:
    store, reader = database
    claim = (await store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    now = time.time()
    outcome = Outcome.succeeded({"result": {"nested": [1, None, AWKWARD]}})
    released = await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, now, W)
    step = await reader.fetchrow(
        "SELECT status, outputs, error IS NULL AS no_error, lease_owner, lease_expires_at, finished_at "
        "FROM steps WHERE run_id = $1 AND name = $2",
        claim.run_id,
        claim.step,
    )
    assert step is not None
    assert (step["status"], step["no_error"], step["lease_owner"], step["lease_expires_at"]) == (
        "succeeded",
        True,
        None,
        None,
    )
    assert json.loads(step["outputs"]) == {"result": {"nested": [1, None, AWKWARD]}}
    assert step["finished_at"] == now
    attempt = await reader.fetchrow(
        "SELECT status, outputs->'result'->'nested'->>2 AS text FROM attempts WHERE id = $1", claim.attempt_id
    )
    assert attempt is not None and dict(attempt) == {"status": "succeeded", "text": AWKWARD}
    started = {c.step for c in released.claims}
    assert len(started) == 60  # every sibling the seed released, each with its attempt row
    count = await reader.fetchval("SELECT count(*) FROM attempts WHERE run_id = $1 AND number = 1", claim.run_id)
    assert count == 61


def test_a_row_without_one_of_its_recordsets_columns_is_refused() -> None:
    """A missing column would be a value silently left ``NULL``: the row is refused where it is made."""
    with pytest.raises(KeyError):
        positional("w_runs", [{"run_key": "r", "w_status": "running"}])
