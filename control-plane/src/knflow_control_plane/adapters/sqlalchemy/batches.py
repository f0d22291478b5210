"""Recording attempts' outcomes: one transaction for one completion or several, of one run or several
(batched by ``run_batches``), through the one path of ``transitions``."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain.model import Outcome, RunStatus
from ...domain.records import Transition, Worker
from ...domain.transitions import AttemptFinished, Context, Fact
from . import errors
from .database import Database
from .raw import AnyConnection
from .transitions import transition


@dataclass(frozen=True)
class Completion:
    """One attempt's outcome, to record in a batch (:func:`complete_batch`)."""

    run_id: str
    step: str
    attempt_id: str
    outcome: Outcome
    now: float
    worker: Worker | None


async def record(database: Database, batch: list[Completion], rng: random.Random, use_outbox: bool) -> list[Transition]:
    """:func:`complete_batch` in a transaction of its own. On Postgres the runs are read first, outside
    it, and locked with the writes in the message that commits them: two round trips instead of three.
    A run that moved in between (another replica's transition, a cancel) fails that try whole
    (``errors.moved``), and the batch is applied again, its runs locked from the start
    (``docs/architecture.md``)."""
    if database.dialect == "postgresql":
        try:
            return await database.run_raw(complete_batch, batch, rng, use_outbox, True, reads_first=True)
        except Exception as exc:
            if not errors.moved(exc):
                raise
    return await database.run_raw(complete_batch, batch, rng, use_outbox)


def complete_batch(
    conn: AnyConnection, batch: list[Completion], rng: random.Random, use_outbox: bool, unlocked: bool = False
) -> list[Transition]:
    """Record each attempt's outcome at most once, then apply what follows (downstream, retry, run end);
    a transition per completion, in order.

    A second report of the same attempt (a replay, or a worker whose lease was taken over) changes
    nothing and comes back with ``duplicate=True``. The runs are locked first, in the order of their
    ids (two batches, in two replicas say, never wait for each other in a cycle); each completion then
    sees the ones before it, as if they had come one by one (the planner applies a run's facts in
    order: :func:`~..domain.planner.plan`). ``unlocked`` (Postgres): the runs are read before they are
    locked, and the writes fail whole if one moved since (``transitions.SqlRunStates``).
    """
    facts: dict[str, list[Fact]] = {}
    workers: dict[str, Worker | None] = {}
    position = []
    now = batch[0].now
    for c in batch:
        run_facts = facts.setdefault(c.run_id, [])
        position.append(len(run_facts))
        run_facts.append(AttemptFinished(c.step, c.attempt_id, c.outcome))
        now = max(now, c.now)
        workers[c.run_id] = _roomier(workers[c.run_id], c.worker) if len(run_facts) > 1 else c.worker
    worker = batch[0].worker
    for each in workers.values():
        worker = _roomier(worker, each)
    context = Context(now, worker, rng)
    # Several runs (a merged batch): each claims with the room its own completions reported.
    own = workers if len(workers) > 1 and len(set(workers.values())) > 1 else None
    plans = transition(conn, facts, context, use_outbox=use_outbox, workers=own, unlocked=unlocked)
    done = []
    for c, index in zip(batch, position, strict=True):
        planned = plans[c.run_id]
        if planned is None:
            done.append(Transition(c.run_id, RunStatus.FAILED, duplicate=True))
            continue
        result = planned.results[index]
        done.append(Transition(c.run_id, result.run_status, result.claims, result.events, duplicate=result.duplicate))
    return done


def _roomier(one: Worker | None, other: Worker | None) -> Worker | None:
    """The worker with more room; None when either claims nothing (then the pair claims nothing)."""
    if one is None or other is None:
        return None
    return other if other.capacity > one.capacity else one


def merged(calls: Sequence[tuple[Any, ...]]) -> tuple[tuple[Any, ...], Callable[[list[Transition]], list[Any]]]:
    """Several queued ``complete_batch`` calls' arguments as one call's (``sqlite_thread`` runs them as
    one transition, so that runs completing together share its statements), and how to hand each call
    its own transitions back."""
    batch = [c for args in calls for c in args[0]]
    sizes = [len(args[0]) for args in calls]

    def split(done: list[Transition]) -> list[Any]:
        parts, start = [], 0
        for size in sizes:
            parts.append(done[start : start + size])
            start += size
        return parts

    return (batch, *calls[0][1:]), split
