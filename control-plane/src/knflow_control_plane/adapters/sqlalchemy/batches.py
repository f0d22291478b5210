"""Recording attempts' outcomes: one transaction for one completion or several, of one run or several
(batched by ``run_batches``)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ...domain import events as ev
from ...domain.model import AttemptStatus, Outcome, RunStatus
from ...domain.records import Transition, Worker
from . import statements_pg as pg
from .raw import AnyConnection, execute_later
from .runs import claim, finish_succeeded, record, record_success
from .tx import RunState, Tx, flush, lock_runs, write_together


@dataclass(frozen=True)
class Completion:
    """One attempt's outcome, to record in a batch (:func:`complete_batch`)."""

    run_id: str
    step: str
    attempt_id: str
    outcome: Outcome
    now: float
    worker: Worker | None


def complete_batch(
    conn: AnyConnection, batch: list[Completion], rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """Record each attempt's outcome at most once, then apply what follows (downstream, retry, run end);
    a transition per completion, in order.

    A second report of the same attempt (a replay, or a worker whose lease was taken over) changes
    nothing and comes back with ``duplicate=True``. The runs are locked first, in the order of their
    ids (two batches, in two replicas say, never wait for each other in a cycle); each completion then
    sees the ones before it, as if they had come one by one.
    """
    if len(batch) == 1 and conn.dialect.name == "postgresql" and batch[0].outcome.status is AttemptStatus.SUCCEEDED:
        return [_succeed_alone(conn, batch[0], rng, use_outbox)]
    runs = lock_runs(Tx(conn, batch[0].now, None, rng, use_outbox, [], []), sorted({c.run_id for c in batch}))
    if _together(conn, batch, runs):
        return _succeed_together(conn, batch, runs, rng, use_outbox)
    done = []
    for c in batch:
        tx = Tx(conn, c.now, c.worker, rng, use_outbox, [], [])
        run = runs[c.run_id]
        if run is None:
            done.append(Transition(c.run_id, RunStatus.FAILED, duplicate=True))
            continue
        status = record(tx, run, c.step, c.attempt_id, c.outcome, claim_next=c.worker is not None)
        if status is None:
            done.append(Transition(c.run_id, RunStatus(run.status), duplicate=True))
            continue
        done.append(flush(tx, c.run_id, status))
        runs[c.run_id] = replace(run, status=status.value)
    return done


def _succeed_alone(conn: AnyConnection, c: Completion, rng: random.Random, use_outbox: bool) -> Transition:
    """:func:`complete_batch` of one success on Postgres, in three round trips: the run locked with
    ``BEGIN``, then read and recorded by one statement, then the claims and events written with
    ``COMMIT`` (the chain's every step; it took five)."""
    tx = Tx(conn, c.now, c.worker, rng, use_outbox, [], [])
    execute_later(conn, pg.LOCK_PG, {"b_run": c.run_id})
    run, status = record_success(tx, c.run_id, c.step, c.attempt_id, c.outcome, claim_next=c.worker is not None)
    if run is None:
        return Transition(c.run_id, RunStatus.FAILED, duplicate=True)
    if status is None:
        return Transition(c.run_id, RunStatus(run.status), duplicate=True)
    return flush(tx, c.run_id, status)


class _Ready(NamedTuple):
    """A dependent that became ready: what :func:`claim` reads of its row."""

    run_id: str
    name: str
    action: str
    version: str
    inputs: dict[str, Any]
    upstream: list[str]
    attempts: int
    policy: dict[str, Any]


def _together(conn: AnyConnection, batch: list[Completion], runs: dict[str, RunState | None]) -> bool:
    """Whether the batch can be recorded by one statement (Postgres, ``pg.SUCCEED_MANY_PG``): successes
    only, in running runs, of different steps, each claiming what it releases. Anything else (a failure
    to decide on, a step reported twice) goes one completion at a time."""
    return (
        len(batch) > 1
        and conn.dialect.name == "postgresql"
        and all(c.outcome.status is AttemptStatus.SUCCEEDED and c.worker is not None for c in batch)
        and len({(c.worker.name, c.worker.lease) for c in batch if c.worker is not None}) == 1
        and all(run is not None and run.status == RunStatus.RUNNING.value for run in runs.values())
        and len({(c.run_id, c.step) for c in batch}) == len(batch)
    )


def _succeed_together(
    conn: AnyConnection, batch: list[Completion], runs: dict[str, RunState | None], rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """:func:`complete_batch` of successes in one statement, then every run's claims and ends in one.

    Every completion comes back with its own ``step.succeeded`` event; the claims, the run's end and
    their events come back with the last completion of each run, as if they had come one by one.
    """
    now = max(c.now for c in batch)
    row = conn.execute(
        pg.SUCCEED_MANY_PG,
        {
            "done": [
                {"id": c.attempt_id, "at": c.now, "outputs": o.outputs, "error": o.error, "logs": o.logs}
                for c, o in ((c, c.outcome) for c in batch)
            ],
            "ids": [c.attempt_id for c in batch],
            "run_ids": sorted(runs),
            "now": now,
        },
    ).one()
    recorded, remaining = set(row.recorded or ()), row.remaining or {}
    ready: dict[str, list[_Ready]] = defaultdict(list)
    for item in sorted(row.ready or (), key=lambda r: r["name"]):
        ready[item["run_id"]].append(_Ready(**item))
    mine: dict[str, list[Completion]] = defaultdict(list)  # each run's recorded completions, in order
    for c in batch:
        if c.attempt_id in recorded:
            mine[c.run_id].append(c)
    ends: dict[str, Transition] = {}
    held: list[tuple[Tx, str]] = []
    for run_id, completions in mine.items():
        run = runs[run_id]
        assert run is not None
        if run_id not in remaining:
            raise LookupError(f"run {run_id} has none of the steps {[c.step for c in completions]}")
        worker = max((c.worker for c in completions if c.worker is not None), key=lambda w: w.capacity)
        tx = Tx(conn, now, worker, rng, use_outbox, [], [])
        for c in completions:
            tx.emit(ev.STEP_SUCCEEDED, run_id, c.step)
        known = {c.step: c.outcome.outputs or {} for c in completions}
        if remaining[run_id] == 0:
            status = finish_succeeded(tx, run, known)
        else:
            claim(tx, run, [r.name for r in ready[run_id]], rows=ready[run_id], known=known)
            status = RunStatus.RUNNING
        ends[run_id] = Transition(run_id, status, list(tx.claims), list(tx.events))
        held.append((tx, run_id))
    write_together(held)
    return _per_completion(batch, mine, ends)


def _per_completion(
    batch: list[Completion], recorded: dict[str, list[Completion]], ends: dict[str, Transition]
) -> list[Transition]:
    """A transition per completion, in order: each its ``step.succeeded`` event, and each run's last one
    (of those ``recorded``) the run's claims and end; a completion not recorded is a duplicate."""
    position = {c.attempt_id: (i, len(mine)) for mine in recorded.values() for i, c in enumerate(mine)}
    done = []
    for c in batch:
        if c.attempt_id not in position:
            done.append(Transition(c.run_id, RunStatus.RUNNING, duplicate=True))
            continue
        end, (i, count) = ends[c.run_id], position[c.attempt_id]
        done.append(
            replace(end, events=end.events[i:])
            if i == count - 1
            else Transition(c.run_id, RunStatus.RUNNING, [], [end.events[i]])
        )
    return done
