"""Two control-plane replicas on one real Postgres, creating and finishing runs of the same concurrency keys
at once: the keys' limits hold at every moment (a third connection watches the committed state the whole
time, and the attempts' recorded times never overlap more than the limit), and every run ends, each step
succeeding once."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import sqlalchemy as sa

from knflow import action, workflow
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.adapters.sqlalchemy.tables import attempts, runs
from knflow_control_plane.domain.concurrency import RunConcurrency, queue_key
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Transition, Worker
from tests.integration.conftest import _postgres_database
from tests.services import drop_postgres_database

LIMIT = 2
KEYS = ("acme", "globex")
RUNS_PER_KEY = 30


@action
def charge(customer: str) -> str:
    return customer


@workflow
def billing(customer: str) -> object:
    return charge(customer=customer)


def keyed(customer: str) -> NewRun:
    spec = billing.spec
    return NewRun(
        new_run_id(time.time()),
        "default",
        spec.name,
        spec.version,
        {"customer": customer},
        plan_run(spec, spec.actions),
        spec.result.model_dump(mode="json") if spec.result else None,
        concurrency=RunConcurrency(queue_key("default", "billing", customer), LIMIT),
    )


class Watch:
    """Reads the committed count of running runs per key until stopped; keeps the highest seen."""

    def __init__(self, database: Database) -> None:
        self.database, self.highest, self.looks = database, 0, 0
        self.done = asyncio.Event()

    async def run(self) -> None:
        query = (
            sa.select(runs.c.concurrency_key, sa.func.count())
            .where(runs.c.status == "running", runs.c.concurrency_key.is_not(None))
            .group_by(runs.c.concurrency_key)
        )
        while not self.done.is_set():
            counts = await self.database.run(lambda conn: [row[1] for row in conn.execute(query)])
            self.highest = max([self.highest, *counts])
            self.looks += 1
            await asyncio.sleep(0.005)


async def replica(store: SqlAlchemyStore, name: str, claims: asyncio.Queue[Claim], left: list[int]) -> None:
    """Finish the attempts this replica holds, in a shuffled order, until every run ended."""
    worker = Worker(name, lease=60.0, capacity=1000)
    rng = random.Random(name)
    while left[0] > 0:
        try:
            claim = await asyncio.wait_for(claims.get(), 0.2)
        except TimeoutError:  # a cancel-free run here; a run another transaction started waits for a poll
            for made in [
                *await store.claim_ready(time.time(), worker),
                *await store.admit_waiting(time.time(), worker),
            ]:
                await _keep(made, claims, left)
            continue
        await asyncio.sleep(rng.random() * 0.01)
        outcome = Outcome.succeeded({"result": claim.inputs["customer"]})
        done = await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), worker)
        await _keep(done, claims, left)


async def _keep(made: Transition, claims: asyncio.Queue[Claim], left: list[int]) -> None:
    for claim in made.claims:
        await claims.put(claim)
    left[0] -= sum(1 for e in made.events if e.type.endswith("run.succeeded"))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at once (an end at the same time as a start comes first)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_, highest = 0, 0
    for _, step in edges:
        open_ += step
        highest = max(highest, open_)
    return highest


async def test_two_replicas_on_postgres_never_run_more_than_a_keys_limit() -> None:
    url = await _postgres_database()
    first, second = SqlAlchemyStore(Database(url), outbox=True), SqlAlchemyStore(Database(url), outbox=True)
    watcher_db = Database(url)
    watch = Watch(watcher_db)
    watching = asyncio.create_task(watch.run())
    try:
        await first.ensure_project("default", 0.0)
        news = [keyed(key) for _ in range(RUNS_PER_KEY) for key in KEYS]
        queues: list[asyncio.Queue[Claim]] = [asyncio.Queue(), asyncio.Queue()]
        stores = (first, second)
        made = await asyncio.gather(
            *[stores[i % 2].create_run(new, time.time(), Worker(f"r{i % 2}", 60.0, 1000)) for i, new in enumerate(news)]
        )
        statuses = [t.run_status.value for t in made]
        assert statuses.count("running") == LIMIT * len(KEYS)
        assert statuses.count("queued") == len(news) - LIMIT * len(KEYS)
        left = [len(news)]
        for i, t in enumerate(made):
            for claim in t.claims:
                queues[i % 2].put_nowait(claim)
        await asyncio.wait_for(
            asyncio.gather(replica(first, "r0", queues[0], left), replica(second, "r1", queues[1], left)), 120
        )
        watch.done.set()
        await watching
        assert watch.looks > 10 and watch.highest <= LIMIT

        def read(conn: Any) -> tuple[list[Any], list[Any]]:
            run_rows = conn.execute(sa.select(runs.c.id, runs.c.status, runs.c.concurrency_key)).all()
            attempt_rows = conn.execute(
                sa.select(attempts.c.run_id, attempts.c.status, attempts.c.started_at, attempts.c.finished_at)
            ).all()
            return run_rows, attempt_rows

        run_rows, attempt_rows = await watcher_db.run(read)
        assert {row.status for row in run_rows} == {"succeeded"} and len(run_rows) == len(news)
        assert len(attempt_rows) == len(news) and {row.status for row in attempt_rows} == {"succeeded"}
        key_of = {row.id: row.concurrency_key for row in run_rows}
        for key in KEYS:
            spans = [
                (row.started_at, row.finished_at)
                for row in attempt_rows
                if key_of[row.run_id] == queue_key("default", "billing", key)
            ]
            assert len(spans) == RUNS_PER_KEY and max_overlap(spans) == LIMIT
    finally:
        watch.done.set()
        await asyncio.gather(watching, return_exceptions=True)
        for store in (first, second):
            await store.close()
        await watcher_db.dispose()
        await drop_postgres_database(url)
