"""The SQLite store alone: CPU per transition of 10-step chains on the raw path, no thread, no functions.

    .venv/bin/python bench/store_bench.py [--runs 200] [--profile]

Each transaction runs inline (BEGIN IMMEDIATE .. COMMIT on one ``sqlite3`` connection), so the number is
the transition's own cost: SQL plus the Python around it. ``--profile`` prints cProfile's top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import pstats
import random
import sqlite3
import tempfile
import time
from typing import Any

from knflow import action, workflow
from knflow_control_plane.adapters.sqlalchemy import creation
from knflow_control_plane.adapters.sqlalchemy.batches import Completion, complete_batch
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.migrations import migrate
from knflow_control_plane.adapters.sqlalchemy.raw import RawConnection, SqliteDriver
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, PlannedStep, plan_run
from knflow_control_plane.domain.records import NewRun, Worker


@action
async def noop(value: int = 0) -> int:
    return value


@workflow
def chain10(value: int = 0) -> Any:
    for index in range(10):
        value = noop.named(f"s{index}")(value=value)
    return value


W = Worker("bench", 30.0, 100)


@functools.cache
def _planned() -> tuple[str, str, tuple[PlannedStep, ...], Any]:
    """The chain's steps as a run starts them, computed once, as the plane caches them per workflow version
    (``Workflows._plan``): ``spec.version`` hashes the whole spec, ~40 us a transition if done per run."""
    spec = chain10.spec
    result = spec.result.model_dump(mode="json") if spec.result else None
    return spec.name, spec.version, tuple(plan_run(spec, spec.actions)), result


def _new() -> NewRun:
    name, version, planned, result = _planned()
    return NewRun(new_run_id(time.time()), "default", name, version, {"value": 1}, list(planned), result)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/knflow.db")
        await migrate(db)
        raw = sqlite3.connect(f"{tmp}/knflow.db", isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            raw.execute(f"PRAGMA {pragma}")
        conn = RawConnection(db._plans, SqliteDriver(raw))
        rng = random.Random(1)

        def tx(fn: Any, *fn_args: Any) -> Any:
            raw.execute("BEGIN IMMEDIATE")
            result = fn(conn, *fn_args)
            raw.execute("COMMIT")
            return result

        def one_run() -> int:
            claims = list(tx(creation.create_run, _new(), time.time(), W, rng, True).claims)
            count = 1
            while claims:
                c = claims.pop()
                done = Outcome.succeeded({"result": 1})
                batch = [Completion(c.run_id, c.step, c.attempt_id, done, time.time(), W)]
                claims += tx(complete_batch, batch, rng, True)[0].claims
                count += 1
            return count

        for _ in range(20):
            one_run()
        profile = cProfile.Profile() if args.profile else None
        cpu, count = time.process_time(), 0
        if profile is not None:
            profile.enable()
        for _ in range(args.runs):
            count += one_run()
        if profile is not None:
            profile.disable()
        print(f"CPU per transition: {(time.process_time() - cpu) / count * 1e6:.0f} us ({count} transitions)")
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        raw.close()
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
