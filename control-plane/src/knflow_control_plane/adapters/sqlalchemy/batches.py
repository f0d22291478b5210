"""Recording attempts' outcomes: one transaction for one completion or several, of one run or several
(batched by ``run_batches``), through the one path of ``transitions``."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ...domain.model import Outcome, RunStatus
from ...domain.records import Transition, Worker
from ...domain.transitions import AttemptFinished, Context, Fact
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


def complete_batch(
    conn: AnyConnection, batch: list[Completion], rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """Record each attempt's outcome at most once, then apply what follows (downstream, retry, run end);
    a transition per completion, in order.

    A second report of the same attempt (a replay, or a worker whose lease was taken over) changes
    nothing and comes back with ``duplicate=True``. The runs are locked first, in the order of their
    ids (two batches, in two replicas say, never wait for each other in a cycle); each completion then
    sees the ones before it, as if they had come one by one (the planner applies a run's facts in
    order: :func:`~..domain.planner.plan`).
    """
    facts: dict[str, list[Fact]] = {}
    position = []
    worker, now = batch[0].worker, batch[0].now
    for c in batch:
        run_facts = facts.setdefault(c.run_id, [])
        position.append(len(run_facts))
        run_facts.append(AttemptFinished(c.step, c.attempt_id, c.outcome))
        now = max(now, c.now)
        if c.worker is None or worker is None:
            worker = None  # some completion claims nothing: the batch claims nothing
        elif c.worker.capacity > worker.capacity:
            worker = c.worker
    context = Context(now, worker, rng)
    plans = transition(conn, facts, context, use_outbox=use_outbox)
    done = []
    for c, index in zip(batch, position, strict=True):
        planned = plans[c.run_id]
        if planned is None:
            done.append(Transition(c.run_id, RunStatus.FAILED, duplicate=True))
            continue
        result = planned.results[index]
        done.append(Transition(c.run_id, result.run_status, result.claims, result.events, duplicate=result.duplicate))
    return done
