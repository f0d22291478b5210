"""Concurrent transitions of one run, on SQLite and a real Postgres: a fan-out's siblings completing
together, replies delivered twice at once, and bindings that cannot be resolved when claiming."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from knflow import action, workflow
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Worker

WIDTH = 60
W = Worker("w1", lease=30.0, capacity=10_000)


@action
def seed(x: int) -> int:
    return x


@action
def gather(values: list[int]) -> int:
    return sum(values)


@workflow
def fan(x: int) -> object:
    first = seed.named("seed")(x=x)
    return gather(values=[seed.named(f"f{i}")(x=first) for i in range(WIDTH)])


def new_run(inputs: dict[str, Any]) -> NewRun:
    spec = fan.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    return NewRun(
        new_run_id(time.time()), "default", spec.name, spec.version, inputs, plan_run(spec, spec.actions), result
    )


async def succeed(store: SqlAlchemyStore, claim: Claim, value: int) -> list[Claim]:
    outcome = Outcome.succeeded({"result": value})
    done = await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), W)
    return list(done.claims)


async def test_siblings_completing_together_release_the_join_once(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run({"x": 1}), time.time(), W)
    siblings = await succeed(store, created.claims[0], 1)
    assert len(siblings) == WIDTH
    released = await asyncio.gather(*[succeed(store, c, 1) for c in siblings])
    await joined_once(store, created.run_id, released)


async def joined_once(store: SqlAlchemyStore, run_id: str, released: list[list[Claim]]) -> None:
    """The siblings' completions (``released``: what each claimed) released the join once; it ends the run."""
    joins = [c for claims in released for c in claims]
    assert [(c.step, c.number) for c in joins] == [("gather", 1)]
    assert joins[0].inputs == {"values": [1] * WIDTH}
    assert await succeed(store, joins[0], WIDTH) == []
    run = await store.get_run(run_id)
    assert run is not None and run.status == "succeeded" and run.result == WIDTH
    assert all(s.status == "succeeded" and len(s.attempts) == 1 for s in run.steps)
    types = [row["type"] for row in await store.take_outbox(10_000)]
    assert types.count("dev.knflow.run.succeeded") == 1  # remaining reached 0 once
    assert types.count("dev.knflow.step.started") == WIDTH + 2
    assert types.count("dev.knflow.step.succeeded") == WIDTH + 2


async def test_a_reply_delivered_twice_at_once_is_recorded_once(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run({"x": 1}), time.time(), W)
    [first] = created.claims
    outcome = Outcome.succeeded({"result": 1})
    replies = await asyncio.gather(
        *[store.complete(first.run_id, first.step, first.attempt_id, outcome, time.time(), W) for _ in range(6)]
    )
    assert sorted(r.duplicate for r in replies) == [False] + [True] * 5
    assert sum(len(r.claims) for r in replies) == WIDTH


async def test_a_root_whose_bindings_cannot_be_resolved_fails_the_run(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run({}), time.time(), W)  # no "x"
    assert created.claims == []
    run = await store.get_run(created.run_id)
    assert run is not None and run.status == "failed" and run.error is not None
    assert run.error["step"] == "seed" and run.error["type"] == "BindingError"
    [attempt] = next(s for s in run.steps if s.name == "seed").attempts
    assert attempt.status == "failed"
    types = [row["type"] for row in await store.take_outbox(100)]
    assert types == [
        "dev.knflow.run.started",
        "dev.knflow.step.failed",
        "dev.knflow.run.failed",
    ]
