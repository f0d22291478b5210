"""The run states the SQLite store keeps between transitions on the event loop's connection
(``adapters/sqlalchemy/state_cache.py``): served while nothing else wrote, forgotten as soon as anything
may have. Each test fails when the check it names is taken out. Every state served is also read back
from the database and compared (``KNFLOW_CHECK_STATE_CACHE``, set for the whole suite by ``tests/conftest.py``)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from knflow import action, workflow
from knflow_control_plane.adapters.sqlalchemy import transitions
from knflow_control_plane.adapters.sqlalchemy.raw import RawConnection
from knflow_control_plane.adapters.sqlalchemy.state_cache import RunStateCache
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.adapters.sqlalchemy.tables import runs
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Transition, Worker
from knflow_control_plane.domain.transitions import initial_state
from tests.integration.conftest import sql_store

W = Worker("w1", lease=30.0, capacity=100)


@action
def add_one(x: int) -> int:
    return x + 1


@workflow
def chain(x: int) -> object:
    return add_one.named("c")(x=add_one.named("b")(x=add_one.named("a")(x=x)))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlAlchemyStore]:
    async with sql_store("sqlite-inline", tmp_path) as opened:
        yield opened


def cache_of(store: SqlAlchemyStore) -> RunStateCache:
    assert store.db.state_cache is not None
    return store.db.state_cache


async def start(store: SqlAlchemyStore) -> Claim:
    spec = chain.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    planned = plan_run(spec, spec.actions)
    new = NewRun(new_run_id(time.time()), "default", spec.name, spec.version, {"x": 1}, planned, result)
    [first] = (await store.create_run(new, time.time(), W)).claims
    return first


async def succeed(store: SqlAlchemyStore, claim: Claim) -> Transition:
    outcome = Outcome.succeeded({"result": claim.inputs["x"] + 1})
    return await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), W)


async def test_a_chain_plans_each_step_from_the_state_the_last_one_left(store: SqlAlchemyStore) -> None:
    claim = await start(store)
    for step in ("b", "c"):
        [claim] = (await succeed(store, claim)).claims
        assert claim.step == step
    assert (await succeed(store, claim)).run_status.value == "succeeded"
    view = await store.get_run(claim.run_id)
    assert view is not None and view.status == "succeeded" and view.result == 4
    assert cache_of(store).served == 3  # every completion: from the state its creation, then each, left


async def test_a_write_by_another_connection_is_seen(store: SqlAlchemyStore, tmp_path: Path) -> None:
    claim = await start(store)
    # another process (or the database thread) cancels the run: its next transition must see that
    with sqlite3.connect(tmp_path / "knflow.db") as other:
        other.execute("UPDATE runs SET status = 'cancelled' WHERE id = ?", (claim.run_id,))
    late = await succeed(store, claim)
    assert late.duplicate and late.claims == []  # a kept state would still say running, and claim "b"
    assert cache_of(store).served == 0


def _cancel_behind_its_back(conn: RawConnection, run_id: str) -> None:
    conn.execute(sa.update(runs).where(runs.c.id == run_id).values(status="cancelled"))


async def test_a_write_on_the_same_connection_it_did_not_follow_is_seen(store: SqlAlchemyStore) -> None:
    claim = await start(store)
    await store.db.run_raw(_cancel_behind_its_back, claim.run_id)  # inline, not through the state machine
    assert store.db._thread is not None and store.db._thread.inline_runs >= 2
    late = await succeed(store, claim)
    assert late.duplicate and late.claims == []
    assert cache_of(store).served == 0


async def test_a_transition_rolled_back_leaves_nothing_kept(
    store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim = await start(store)
    written = transitions.SqlRunStates.persist

    def persist_then_fail(self: transitions.SqlRunStates, plans: Any) -> None:
        written(self, plans)
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(transitions.SqlRunStates, "persist", persist_then_fail)
    with pytest.raises(RuntimeError):
        await succeed(store, claim)
    monkeypatch.undo()
    again = await succeed(store, claim)  # the success was never recorded: recorded now, "b" claimed
    assert not again.duplicate and [c.step for c in again.claims] == ["b"]


def test_writes_that_raise_part_way_leave_nothing_kept(tmp_path: Path) -> None:
    # A caller that catches a failure of the writes it asked to be followed, and commits all the same:
    # some rows were written, none staged, so no state kept before can be trusted after that commit.
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    cache = RunStateCache()
    spec = chain.spec
    new = NewRun("run-1", "default", spec.name, spec.version, {"x": 1}, plan_run(spec, spec.actions))
    conn.execute("BEGIN IMMEDIATE")
    cache.began(conn)
    cache.keep("run-1", initial_state(new, 0.0))
    conn.execute("COMMIT")
    cache.committed()
    conn.execute("BEGIN IMMEDIATE")
    cache.began(conn)
    assert cache.get("run-1") is not None
    with contextlib.suppress(sqlite3.IntegrityError), cache.following():
        conn.execute("INSERT INTO t VALUES ('a')")
        conn.execute("INSERT INTO t VALUES ('a')")
    conn.execute("COMMIT")
    cache.committed()
    conn.execute("BEGIN IMMEDIATE")
    cache.began(conn)
    assert cache.get("run-1") is None
    conn.execute("COMMIT")
