"""Completions of one run batched into one transaction, on SQLite and a real Postgres
(``adapters/sqlalchemy/run_batches.py`` and ``sqlalchemy_batches.complete_batch``): the same outcome as one by one,
in fewer transactions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from knflow_control_plane.adapters.sqlalchemy.batches import Completion
from knflow_control_plane.adapters.sqlalchemy.raw import RawConnection
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.adapters.sqlalchemy.transitions import SqlRunStates
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.domain.records import Claim, Transition, Worker
from tests.integration.test_store_concurrency import WIDTH, W, new_run, succeed

FATAL = {"type": "ActionError", "message": "no", "code": 400, "retryable": False, "traceback": None}


async def _siblings(store: SqlAlchemyStore) -> list[Claim]:
    created = await store.create_run(new_run({"x": 1}), time.time(), W)
    return await succeed(store, created.claims[0], 1)


def _ok(claim: Claim, value: int = 1) -> Completion:
    return Completion(claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded({"result": value}), time.time(), W)


async def test_siblings_completing_together_take_far_fewer_transactions(store: SqlAlchemyStore) -> None:
    siblings = await _siblings(store)
    batches: list[int] = []
    one_transaction = store._complete_batch  # what the batcher runs: each call is a transaction

    async def counted(lane: str, batch: list[Completion]) -> list[Transition]:
        batches.append(len(batch))
        return await one_transaction(lane, batch)

    store._batches._run_batch = counted
    released = await asyncio.gather(*[succeed(store, c, 1) for c in siblings])
    assert sum(batches) == WIDTH
    assert len(batches) < WIDTH / 4, f"{len(batches)} transactions for {WIDTH} completions: {batches}"
    assert [(c.step, c.number) for claims in released for c in claims] == [("gather", 1)]


async def test_a_batch_reads_like_its_completions_one_after_another(store: SqlAlchemyStore) -> None:
    siblings = await _siblings(store)
    first, second, *rest = siblings
    failed = Completion(first.run_id, first.step, first.attempt_id, Outcome.failed(FATAL), time.time(), W)
    batch = [_ok(second), _ok(second), failed, *[_ok(c) for c in rest]]
    done = await store._complete_batch("lane", batch)
    assert [t.duplicate for t in done[:3]] == [False, True, False]
    assert [t.run_status.value for t in done[:3]] == ["running", "running", "failed"]
    # After the failure the run is failed: the rest are recorded, and nothing more is claimed.
    assert all(not t.duplicate and t.run_status.value == "failed" and not t.claims for t in done[3:])
    run = await store.get_run(first.run_id)
    assert run is not None and run.status == "failed" and run.error is not None and run.error["step"] == first.step
    steps = {s.name: s.status for s in run.steps}
    assert steps[second.step] == "succeeded" and steps[first.step] == "failed" and steps["gather"] == "skipped"
    assert sum(1 for status in steps.values() if status == "succeeded") == WIDTH  # the seed and the others


async def test_a_batch_that_releases_the_join_claims_it_once(store: SqlAlchemyStore) -> None:
    siblings = await _siblings(store)
    done = await store._complete_batch("lane", [_ok(c) for c in siblings])
    claims = [c for t in done for c in t.claims]
    assert [(c.step, c.inputs) for c in claims] == [("gather", {"values": [1] * WIDTH})]
    assert done[-1].claims == claims  # the last sibling released it


async def test_a_batch_of_several_runs_keeps_each_run_to_itself(store: SqlAlchemyStore) -> None:
    one = await _siblings(store)
    other = (await store.create_run(new_run({"x": 2}), time.time(), W)).claims[0]
    failed = Completion(other.run_id, other.step, other.attempt_id, Outcome.failed(FATAL), time.time(), W)
    done = await store._complete_batch("lane", [_ok(one[0]), failed, _ok(one[1])])
    assert [(t.run_id, t.run_status.value) for t in done] == [
        (one[0].run_id, "running"),
        (other.run_id, "failed"),
        (one[0].run_id, "running"),
    ]
    assert all(not t.claims for t in done)  # the join still waits for the other siblings
    first, second = await store.get_run(one[0].run_id), await store.get_run(other.run_id)
    assert first is not None and first.status == "running"
    assert second is not None and second.status == "failed"


async def test_successes_of_several_runs_in_one_batch_each_claim_finish_or_wait(store: SqlAlchemyStore) -> None:
    waits, releases, ends = [await _siblings(store) for _ in range(3)]
    [join] = [c for claims in await asyncio.gather(*[succeed(store, c, 2) for c in ends]) for c in claims]
    recorded_before = waits[-1]
    await succeed(store, recorded_before, 1)
    batch = [
        *[_ok(c) for c in waits[:-2]],  # one sibling left: the join still waits
        _ok(recorded_before),  # reported again
        _ok(join, 99),  # the last step: its run succeeds
        *[_ok(c, 3) for c in releases],  # all siblings: the join is claimed, with every output
    ]
    done = await store._complete_batch("lane", batch)
    assert [t.duplicate for t in done] == [False] * (WIDTH - 2) + [True] + [False] * (WIDTH + 1)
    by_run = {run_id: [t for t in done if t.run_id == run_id] for run_id in {c.run_id for c in batch}}
    assert all(t.run_status.value == "running" and not t.claims for t in by_run[waits[0].run_id])
    [finished] = by_run[join.run_id]
    assert finished.run_status.value == "succeeded"
    assert [e.type for e in finished.events] == ["dev.knflow.step.succeeded", "dev.knflow.run.succeeded"]
    *earlier, last = by_run[releases[0].run_id]
    assert all(not t.claims and [e.type for e in t.events] == ["dev.knflow.step.succeeded"] for t in earlier)
    assert [(c.step, c.inputs) for c in last.claims] == [("gather", {"values": [3] * WIDTH})]
    assert [e.type for e in last.events] == ["dev.knflow.step.succeeded", "dev.knflow.step.started"]
    waiting, succeeded, released = [await store.get_run(c.run_id) for c in (waits[0], join, releases[0])]
    assert waiting is not None and succeeded is not None and released is not None
    assert succeeded.status == "succeeded" and succeeded.result == 99
    assert waiting.status == "running" and released.status == "running"
    states = {s.name: (s.status, s.outputs) for s in waiting.steps}
    assert states["gather"][0] == "pending" and states[waits[-2].step] == ("running", None)
    assert states[waits[0].step] == ("succeeded", {"result": 1})
    assert {s.name: s.status for s in released.steps}["gather"] == "running"
    # Counted down once per success: the last sibling of the waiting run releases its join.
    assert [c.step for c in await succeed(store, waits[-2], 1)] == ["gather"]


async def test_a_batch_of_several_runs_reads_only_each_runs_own_steps(store: SqlAlchemyStore) -> None:
    """A run's names must not load the steps of that name of another run in the batch (SQLite reads
    several runs' steps by their exact keys: a seed's success would otherwise read every sibling of
    every run)."""
    fresh = (await store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]  # its seed runs
    going = await _siblings(store)  # its siblings run
    loaded: dict[str, set[str]] = {}
    load_for = SqlRunStates.load_for

    def noted(self: SqlRunStates, facts: Any, now: float) -> Any:
        states = load_for(self, facts, now)
        loaded.update({run_id: set(state.steps) for run_id, state in states.items()})
        return states

    SqlRunStates.load_for = noted  # type: ignore[method-assign]
    try:
        done = await store._complete_batch("lane", [_ok(fresh), _ok(going[0])])
    finally:
        SqlRunStates.load_for = load_for  # type: ignore[method-assign]
    assert loaded[going[0].run_id] == {going[0].step, "gather"}
    assert loaded[fresh.run_id] == {fresh.step, *(c.step for c in going)}
    assert len(done[0].claims) == WIDTH and not done[1].claims


async def test_a_batch_of_several_runs_claims_with_each_runs_own_room(store: SqlAlchemyStore) -> None:
    one, other = [(await store.create_run(new_run({"x": i}), time.time(), W)).claims[0] for i in (1, 2)]
    full, roomy = Worker("w1", 30.0, capacity=0), Worker("w1", 30.0, capacity=5)
    outcome = Outcome.succeeded({"result": 1})
    batch = [
        Completion(c.run_id, c.step, c.attempt_id, outcome, time.time(), w) for c, w in ((one, full), (other, roomy))
    ]
    done = await store._complete_batch("lane", batch)
    assert [len(t.claims) for t in done] == [0, 5]  # not the room of the other run's report


@contextlib.contextmanager
def _statements() -> Iterator[list[str]]:
    """The statements the raw path runs meanwhile, whether their answer is awaited or not."""
    ran: list[str] = []
    execute, execute_later = RawConnection.execute, RawConnection.execute_later

    def counted(self: RawConnection, statement: Any, parameters: Any = None) -> Any:
        ran.append(type(statement).__name__)
        return execute(self, statement, parameters)

    def counted_later(self: RawConnection, statement: Any, parameters: Any) -> None:
        ran.append(type(statement).__name__)
        execute_later(self, statement, parameters)

    RawConnection.execute = counted  # type: ignore[method-assign]
    RawConnection.execute_later = counted_later  # type: ignore[method-assign]
    try:
        yield ran
    finally:
        RawConnection.execute, RawConnection.execute_later = execute, execute_later  # type: ignore[method-assign]


async def test_a_batch_of_successes_is_a_few_statements_on_postgres(store: SqlAlchemyStore) -> None:
    siblings = [c for claims in zip(await _siblings(store), await _siblings(store), strict=True) for c in claims]
    with _statements() as ran:
        done = await store._complete_batch("lane", [_ok(c) for c in siblings])
    assert [c.step for t in done for c in t.claims] == ["gather", "gather"]
    if store.db.dialect == "postgresql":
        assert len(ran) == 3, ran  # lock both runs, read both, write everything
    else:  # SQLite: the runs, their steps and those steps' dependents, then one statement a table
        assert len(ran) <= 8, ran


async def test_claiming_the_ready_steps_of_many_runs_takes_a_few_statements(store: SqlAlchemyStore) -> None:
    parked = {(await store.create_run(new_run({"x": i}), time.time(), None)).run_id: i for i in range(30)}
    with _statements() as ran:
        transitions = await store.claim_ready(time.time(), Worker("w2", 30.0, capacity=20))
    assert [t.run_id for t in transitions] == sorted(parked)[:20]  # up to the room, in the order of the ids
    assert all([(c.step, c.inputs) for c in t.claims] == [("seed", {"x": parked[t.run_id]})] for t in transitions)
    # candidates, lock, ready steps; then the claims and events: all at once on Postgres; on SQLite the
    # runs need no lock but are read, and each table is one executemany (attempts, steps, outbox)
    assert len(ran) == (4 if store.db.dialect == "postgresql" else 6), ran
    again = await store.claim_ready(time.time(), Worker("w2", 30.0, capacity=100))
    assert sorted(t.run_id for t in again) == sorted(parked)[20:]
