"""Two control-plane replicas on one real Postgres dispatching the throttled steps of one action at once:
its ``max_concurrency`` holds at every moment (a third connection watches the committed running count; the
attempts' times are taken before their transactions wait, so they are no witness here) and every run
ends, each step succeeding once."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import sqlalchemy as sa

from knflow import action, workflow
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.adapters.sqlalchemy.tables import attempts, runs, steps
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import NewRun, Worker
from tests.integration.conftest import _postgres_database
from tests.services import drop_postgres_database

LIMIT = 3
RUNS = 12


@action(max_concurrency=LIMIT)
def scarce(x: int) -> int:
    return x


@workflow
def fan(x: int) -> object:
    return [scarce.named(f"s{i}")(x=x) for i in range(4)]


def new_run() -> NewRun:
    spec = fan.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    now = time.time()
    return NewRun(new_run_id(now), "default", spec.name, spec.version, {"x": 1}, plan_run(spec, spec.actions), result)


async def replica(store: SqlAlchemyStore, name: str, left: list[int]) -> None:
    """Dispatch, finish what it was granted (shuffled, a little later), until every run ended."""
    worker, rng = Worker(name, lease=60.0, capacity=1000), random.Random(name)
    while left[0] > 0:
        claims = [c for t in await store.dispatch_throttled(time.time(), worker) for c in t.claims]
        rng.shuffle(claims)
        for claim in claims:
            await asyncio.sleep(rng.random() * 0.005)
            done = await store.complete(
                claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded({"result": 1}), time.time(), worker
            )
            left[0] -= sum(1 for e in done.events if e.type.endswith("run.succeeded"))
        await asyncio.sleep(0.002)


async def test_two_replicas_on_postgres_never_run_more_than_an_actions_max_concurrency() -> None:
    url = await _postgres_database()
    first, second = SqlAlchemyStore(Database(url), outbox=True), SqlAlchemyStore(Database(url), outbox=True)
    watcher = Database(url)
    highest, looks, stop = [0], [0], asyncio.Event()

    async def watch() -> None:
        query = sa.select(sa.func.count()).where(steps.c.status == "running", steps.c.action == "scarce")
        while not stop.is_set():
            highest[0] = max(highest[0], await watcher.run(lambda conn: int(conn.execute(query).scalar_one())))
            looks[0] += 1
            await asyncio.sleep(0.003)

    watching = asyncio.create_task(watch())
    try:
        await first.ensure_project("default", 0.0)
        made = await asyncio.gather(
            *[(first, second)[i % 2].create_run(new_run(), time.time(), Worker("r", 60.0, 1000)) for i in range(RUNS)]
        )
        assert all(t.claims == [] for t in made)
        left = [RUNS]
        await asyncio.wait_for(asyncio.gather(replica(first, "r0", left), replica(second, "r1", left)), 120)
        stop.set()
        await watching
        assert looks[0] > 10 and highest[0] <= LIMIT

        def read(conn: Any) -> tuple[list[Any], list[Any]]:
            return (
                conn.execute(sa.select(runs.c.status)).all(),
                conn.execute(sa.select(attempts.c.status, attempts.c.started_at, attempts.c.finished_at)).all(),
            )

        run_rows, attempt_rows = await watcher.run(read)
        assert [r.status for r in run_rows] == ["succeeded"] * RUNS
        assert len(attempt_rows) == RUNS * 4 and {a.status for a in attempt_rows} == {"succeeded"}
    finally:
        stop.set()
        await asyncio.gather(watching, return_exceptions=True)
        for store in (first, second):
            await store.close()
        await watcher.dispose()
        await drop_postgres_database(url)
