"""One contract for the run store, run against the in-memory store, SQLite and a real Postgres."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import NoSuchStep, Outcome, TransitionError, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, RunFilter, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action(retries=1, backoff=0.0)
def inc(x: int) -> int:
    return x + 1


@action
def join(a: int, b: int) -> dict[str, Any]:
    return {"sum": a + b}


@workflow
def diamond(x: int) -> object:
    left = inc.named("left")(x=x)
    right = inc.named("right")(x=x)
    return join(a=left, b=right)["sum"]


W = Worker("w1", lease=30.0, capacity=100)


@pytest.fixture(params=["memory", "sqlite", "sqlite-inline", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    """The store under contract: the in-memory twin, or a fresh SQLite or Postgres database."""
    if request.param == "memory":
        memory = MemoryStore(outbox=True)
        await memory.ensure_project("default", 0.0)
        yield memory
        return
    async with sql_store(request.param, tmp_path) as opened:
        yield opened


def new_run(**extra: Any) -> NewRun:
    spec = diamond.spec
    now = time.time()
    return NewRun(
        new_run_id(now),
        "default",
        spec.name,
        spec.version,
        {"x": 1},
        plan_run(spec, spec.actions),
        spec.result.model_dump(mode="json") if spec.result else None,
        **extra,
    )


def outputs_for(claim: Claim) -> dict[str, Any]:
    if claim.action == "inc":
        return {"result": claim.inputs["x"] + 1}
    return {"sum": claim.inputs["a"] + claim.inputs["b"]}


async def drive(store: RunStore, claims: list[Claim]) -> None:
    while claims:
        claim = claims.pop(0)
        done = await store.complete(
            claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded(outputs_for(claim)), time.time(), W
        )
        claims.extend(done.claims)


async def test_a_run_goes_through_its_dag_and_stores_its_result(store: RunStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    assert sorted(c.step for c in created.claims) == ["left", "right"]
    await drive(store, list(created.claims))
    run = await store.get_run(created.run_id)
    assert run is not None and run.status == "succeeded" and run.result == 4
    assert {s.name: (s.status, len(s.attempts)) for s in run.steps} == {
        "left": ("succeeded", 1),
        "right": ("succeeded", 1),
        "join": ("succeeded", 1),
    }


async def test_finished_among_names_only_the_finished_runs_of_those_asked(store: RunStore) -> None:
    done = await store.create_run(new_run(), time.time(), W)
    await drive(store, list(done.claims))
    running = await store.create_run(new_run(), time.time(), W)
    cancelled = await store.create_run(new_run(), time.time(), W)
    await store.cancel_run(cancelled.run_id, time.time(), "default")
    asked = [done.run_id, running.run_id, cancelled.run_id, "no-such-run"]
    assert await store.finished_among(asked) == {done.run_id, cancelled.run_id}
    assert await store.finished_among([running.run_id]) == set()
    assert await store.finished_among([]) == set()


async def test_an_attempt_is_recorded_at_most_once(store: RunStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    claim = created.claims[0]
    first = await store.complete(
        claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded({"result": 2}), time.time(), W
    )
    again = await store.complete(
        claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded({"result": 99}), time.time(), W
    )
    assert not first.duplicate and again.duplicate and again.claims == []
    run = await store.get_run(created.run_id)
    assert run is not None
    assert next(s for s in run.steps if s.name == claim.step).outputs == {"result": 2}


async def test_run_creation_is_idempotent_on_the_trigger_event(store: RunStore) -> None:
    first = await store.create_run(new_run(idempotency=("/sensors", "evt-1")), time.time(), W)
    second = await store.create_run(new_run(idempotency=("/sensors", "evt-1")), time.time(), W)
    assert second.duplicate and second.run_id == first.run_id and second.claims == []
    assert len((await store.list_runs(RunFilter())).runs) == 1


async def test_a_retryable_failure_is_retried_then_the_run_fails_naming_the_step(store: RunStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    left = next(c for c in created.claims if c.step == "left")
    error = {"type": "ConnectionError", "message": "down", "code": None, "retryable": True, "traceback": "tb"}
    retried = await store.complete(left.run_id, "left", left.attempt_id, Outcome.failed(error), time.time(), W)
    assert [c.number for c in retried.claims] == [2]  # backoff 0: claimed again at once
    second = retried.claims[0]
    failed = await store.complete(second.run_id, "left", second.attempt_id, Outcome.failed(error), time.time(), W)
    assert failed.run_status.value == "failed"
    run = await store.get_run(created.run_id)
    assert run is not None and run.error is not None and run.error["step"] == "left"
    assert {s.name: s.status for s in run.steps}["join"] == "skipped"


async def test_retry_from_failure_reuses_succeeded_steps(store: RunStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    left, right = sorted(created.claims, key=lambda c: c.step)
    await store.complete(right.run_id, "right", right.attempt_id, Outcome.succeeded({"result": 2}), time.time(), W)
    fatal = {"type": "ActionError", "message": "no", "code": 404, "retryable": False, "traceback": None}
    await store.complete(left.run_id, "left", left.attempt_id, Outcome.failed(fatal), time.time(), W)
    retried = await store.retry_run(created.run_id, time.time(), "default")
    assert retried is not None and retried.run_status.value == "running"
    claimed = [c for t in await store.claim_ready(time.time(), W) for c in t.claims]
    assert [c.step for c in claimed] == ["left"]
    await drive(store, claimed)
    run = await store.get_run(created.run_id)
    assert run is not None and run.status == "succeeded" and run.result == 4
    right_step = next(s for s in run.steps if s.name == "right")
    assert len(right_step.attempts) == 1  # not run again


async def test_retry_from_a_chosen_step_runs_it_and_its_downstream_again_even_after_success(
    store: RunStore,
) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    await drive(store, list(created.claims))
    assert (await store.run_status(created.run_id) or ("",))[0] == "succeeded"
    with pytest.raises(TransitionError, match="choose a step"):
        await store.retry_run(created.run_id, time.time(), "default")
    with pytest.raises(NoSuchStep):
        await store.retry_run(created.run_id, time.time(), "default", "nope")
    retried = await store.retry_run(created.run_id, time.time(), "default", "right")
    assert retried is not None and retried.run_status.value == "running"
    claimed = [c for t in await store.claim_ready(time.time(), W) for c in t.claims]
    assert [c.step for c in claimed] == ["right"]
    await drive(store, claimed)
    run = await store.get_run(created.run_id)
    assert run is not None and run.status == "succeeded" and run.result == 4
    assert {s.name: len(s.attempts) for s in run.steps} == {"left": 1, "right": 2, "join": 2}


async def test_cancel_abandons_running_attempts_and_ignores_late_replies(store: RunStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    cancelled = await store.cancel_run(created.run_id, time.time(), "default")
    assert cancelled is not None and cancelled.run_status.value == "cancelled"
    late = created.claims[0]
    reply = await store.complete(
        late.run_id, late.step, late.attempt_id, Outcome.succeeded({"result": 2}), time.time(), W
    )
    assert reply.duplicate and reply.claims == []
    assert await store.claim_ready(time.time(), W) == []


async def test_an_expired_lease_makes_the_step_claimable_again(store: RunStore) -> None:
    short = Worker("dead", lease=0.01, capacity=100)
    created = await store.create_run(new_run(), time.time(), short)
    await asyncio.sleep(0.05)
    lost = await store.expire_leases(time.time(), W)
    assert len(lost) == 2
    # A lost attempt is retried after a short platform backoff (50 ms), without using the action's retries.
    claimed = [c for t in await store.claim_ready(time.time() + 0.2, W) for c in t.claims]
    assert sorted((c.step, c.number) for c in claimed) == [("left", 2), ("right", 2)]
    # The dead worker's late reply changes nothing.
    old = created.claims[0]
    late = await store.complete(old.run_id, old.step, old.attempt_id, Outcome.succeeded({"result": 9}), time.time(), W)
    assert late.duplicate
    await drive(store, claimed)
    run = await store.get_run(created.run_id)
    assert run is not None and run.result == 4


async def test_a_renewed_lease_outlives_its_first_end_and_only_its_holder_renews(store: RunStore) -> None:
    short = Worker("w1", lease=0.05, capacity=100)
    renewed = await store.create_run(new_run(), time.time(), short)
    not_theirs = await store.create_run(new_run(), time.time(), short)
    await store.renew_leases("w1", [(c.run_id, c.step) for c in renewed.claims], time.time() + 60)
    await store.renew_leases("someone-else", [(c.run_id, c.step) for c in not_theirs.claims], time.time() + 60)
    await asyncio.sleep(0.1)
    lost = await store.expire_leases(time.time(), W)
    assert {t.run_id for t in lost} == {not_theirs.run_id}  # the holder's renewal held; the other did nothing


async def test_listing_filters_and_paginates(store: RunStore) -> None:
    ids = []
    for _ in range(5):
        ids.append((await store.create_run(new_run(), time.time(), None)).run_id)
        await asyncio.sleep(0.002)
    first = await store.list_runs(RunFilter(limit=2))
    second = await store.list_runs(RunFilter(limit=2, cursor=first.next_cursor))
    third = await store.list_runs(RunFilter(limit=2, cursor=second.next_cursor))
    seen = [r.run_id for page in (first, second, third) for r in page.runs]
    assert seen == list(reversed(ids)) and third.next_cursor is None
    assert (await store.list_runs(RunFilter(status="succeeded"))).runs == []
    assert len((await store.list_runs(RunFilter(workflow="diamond"))).runs) == 5


async def test_concurrent_workers_never_claim_the_same_step(store: RunStore) -> None:
    for _ in range(20):
        await store.create_run(new_run(), time.time(), None)
    workers = [Worker(f"w{i}", 30.0, 7) for i in range(4)]
    claimed: list[str] = []
    for _ in range(10):  # rounds of concurrent claims until nothing is left
        results = await asyncio.gather(*[store.claim_ready(time.time(), w) for w in workers])
        claimed += [c.attempt_id for transitions in results for t in transitions for c in t.claims]
    assert len(claimed) == len(set(claimed))
    assert len(claimed) == 40  # every root step of every run, exactly once


async def test_a_run_past_its_timeout_fails_and_abandons_its_attempts(store: RunStore) -> None:
    created = await store.create_run(new_run(timeout=0.01), time.time(), W)
    await asyncio.sleep(0.05)
    expired = await store.expire_runs(time.time())
    assert [t.run_id for t in expired] == [created.run_id]
    run = await store.get_run(created.run_id)
    assert run is not None and run.status == "failed" and run.error is not None
    assert run.error["type"] == "RunTimeout"
    assert {s.name: s.status for s in run.steps} == {"left": "cancelled", "right": "cancelled", "join": "skipped"}
    late = created.claims[0]
    reply = await store.complete(
        late.run_id, late.step, late.attempt_id, Outcome.succeeded({"result": 2}), time.time(), W
    )
    assert reply.duplicate


async def test_concurrent_creations_from_one_event_make_one_run(store: RunStore) -> None:
    results = await asyncio.gather(
        *[store.create_run(new_run(idempotency=("/orders", "o-42")), time.time(), W) for _ in range(8)]
    )
    created = [r for r in results if r.created]
    assert len(created) == 1
    assert {r.run_id for r in results} == {created[0].run_id}
    assert sum(len(r.claims) for r in results) == 2  # only the created run claimed its roots
    assert len((await store.list_runs(RunFilter())).runs) == 1


async def test_schedules_keep_their_cursor_across_redeploys_and_only_move_forward(store: RunStore) -> None:
    cron = {"kind": "schedule", "cron": "* * * * * *", "timezone": "UTC", "inputs": {}, "missed": "skip"}
    event: dict[str, Any] = {
        "kind": "event",
        "type": "com.example.created",
        "source": None,
        "subject": None,
        "filters": {},
    }
    await store.replace_triggers("default", "wf", "v1", [event], [cron], now=100.0)
    await store.advance_schedule("default", "wf", 0, 150.0)
    await store.advance_schedule("default", "wf", 0, 120.0)  # a slower replica: ignored
    await store.replace_triggers("default", "wf", "v2", [event], [cron], now=500.0)  # same cron: cursor kept
    [schedule] = await store.list_schedules("default")
    assert schedule.cursor == 150.0 and schedule.version == "v2"
    assert [t.trigger["type"] for t in await store.list_event_triggers("default")] == ["com.example.created"]
    await store.delete_triggers("default", "wf")
    assert await store.list_schedules("default") == [] and await store.list_event_triggers("default") == []


async def test_lifecycle_events_go_through_the_outbox_in_order(store: RunStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    await drive(store, list(created.claims))
    batch = await store.take_outbox(100)
    types = [row["type"] for row in batch]
    assert types[0] == "dev.knflow.run.started" and types[-1] == "dev.knflow.run.succeeded"
    assert types.count("dev.knflow.step.succeeded") == 3
    assert [row["id"] for row in batch] == sorted(row["id"] for row in batch)
    await store.mark_published([row["id"] for row in batch], time.time())
    assert await store.take_outbox(100) == []
