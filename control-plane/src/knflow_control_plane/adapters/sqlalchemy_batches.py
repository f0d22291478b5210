"""Recording attempts' outcomes: one transaction for one completion or several, of one run or several
(batched by ``run_batches``)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ..domain.model import Outcome, RunStatus
from ..domain.records import Transition, Worker
from .sqlalchemy_raw import AnyConnection
from .sqlalchemy_runs import Tx, flush, lock_run, record


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
    lock = Tx(conn, batch[0].now, None, rng, use_outbox, [], [])
    runs = {run_id: lock_run(lock, run_id) for run_id in sorted({c.run_id for c in batch})}
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
