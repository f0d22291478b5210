"""Completions of one run batched into one transaction, on SQLite and a real Postgres
(``adapters/run_batches.py`` and ``sqlalchemy_batches.complete_batch``): the same outcome as one by one,
in fewer transactions."""

from __future__ import annotations

import asyncio
import time

from knflow_control_plane.adapters.sqlalchemy_batches import Completion
from knflow_control_plane.adapters.sqlalchemy_store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.domain.records import Claim, Transition
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
