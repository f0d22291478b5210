"""Concurrency queues on SQL (``domain/concurrency.py`` decides): a keyed run's creation, the key's lock,
who runs and who waits, admissions' deadlines, and where a queued run stands.

Every decision about a key is made holding the key's lock, so replicas on one Postgres never start more
than the limit: ``pg_advisory_xact_lock`` on the key's hash, held to the transaction's end (two keys with
the same hash only wait for each other). SQLite has one writer: nothing to lock. A run of a workflow
without concurrency never comes here: its columns stay NULL and its transitions read one more (NULL)
column of its row, nothing else.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from ...domain.concurrency import ADMIT_AT_ONCE, QueuedRun, key_label, starts_now
from ...domain.model import RunStatus
from ...domain.records import NewRun, QueuePlace, Transition, Worker
from ...domain.transitions import Context
from ...service.run_queues import admit_waiting as _admit_waiting
from ...service.state_machine import apply_facts, as_transition
from .creation import create_run
from .raw import AnyConnection, compiled_once
from .tables import runs

QUEUED, RUNNING = RunStatus.QUEUED.value, RunStatus.RUNNING.value
_key = sa.bindparam("key", type_=sa.Text)
LOCK_KEY_PG = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(_key, 0)))
RUNNING_OF_KEY = sa.select(sa.func.count()).where(runs.c.concurrency_key == _key, runs.c.status == RUNNING)
#: the queue's order: priority first (higher first), then arrival
_ORDER = (sa.func.coalesce(runs.c.priority, 0).desc(), runs.c.queued_at, runs.c.id)
QUEUE_HEAD = (
    sa.select(runs.c.id, runs.c.concurrency_limit)
    .where(runs.c.concurrency_key == _key, runs.c.status == QUEUED)
    .order_by(*_ORDER)
    .limit(sa.bindparam("bound"))
)
SET_CONCURRENCY = (
    runs.update()
    .where(runs.c.id == sa.bindparam("run_key"))
    .values(
        concurrency_key=_key,
        concurrency_limit=sa.bindparam("limit"),
        priority=sa.bindparam("priority"),
        queued_at=sa.bindparam("queued_at"),
        run_timeout=sa.bindparam("timeout", type_=sa.Float),
        deadline=sa.bindparam("deadline", type_=sa.Float),
    )
)
_ids: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
ADMITTED = (
    runs.update()
    .where(runs.c.id.in_(_ids), runs.c.run_timeout.is_not(None))
    .values(deadline=sa.bindparam("now") + runs.c.run_timeout)
)
REQUEUED = runs.update().where(runs.c.id.in_(_ids)).values(queued_at=sa.bindparam("now"), deadline=None)
WAITING_KEYS = (
    sa.select(runs.c.concurrency_key)
    .where(runs.c.status == QUEUED, runs.c.concurrency_key.is_not(None))
    .distinct()
    .limit(sa.bindparam("bound"))
)


def lock_key(conn: AnyConnection, key: str) -> None:
    """Hold ``key`` to the transaction's end (Postgres; SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(LOCK_KEY_PG, {"key": key})


def queue_of(conn: AnyConnection, key: str, bound: int) -> tuple[int, list[QueuedRun]]:
    """Lock ``key``; its runs in progress, and the first ``bound`` of its queue in order."""
    lock_key(conn, key)
    running = int(conn.execute(RUNNING_OF_KEY, {"key": key}).scalar_one())
    rows = conn.execute(QUEUE_HEAD, {"key": key, "bound": bound}).all()
    return running, [QueuedRun(row.id, int(row.concurrency_limit or 1)) for row in rows]


def admitted(conn: AnyConnection, run_ids: Sequence[str], now: float) -> None:
    """Runs that started from the queue: their deadline is their timeout from now."""
    if run_ids:
        conn.execute(ADMITTED, {"ids": list(run_ids), "now": now})


def requeue(conn: AnyConnection, run_ids: Sequence[str], now: float) -> None:
    """Runs retried into their queue: they arrive now, with no deadline until they start."""
    if run_ids:
        conn.execute(REQUEUED, {"ids": list(run_ids), "now": now})


def create_keyed(
    conn: AnyConnection, new: NewRun, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> Transition:
    """Create a run of a workflow with a concurrency limit: started when its key has room and nobody
    waits, else queued (``domain/concurrency.py``), holding the key's lock; idempotent as any creation."""
    assert new.concurrency is not None
    running, queue = queue_of(conn, new.concurrency.key, 1)
    queued = not starts_now(running, len(queue), new.concurrency.limit)
    made = create_run(conn, replace(new, queued=queued), now, worker, rng, use_outbox)
    if made.created:
        params: dict[str, Any] = {
            "run_key": new.run_id,
            "key": new.concurrency.key,
            "limit": new.concurrency.limit,
            "priority": new.concurrency.priority,
            "queued_at": now,
            "timeout": new.timeout,
            "deadline": None if queued or not new.timeout else now + new.timeout,
        }
        conn.execute(SET_CONCURRENCY, params)
    return made


def waiting_keys(conn: AnyConnection) -> list[str]:
    """The keys with runs in their queue (read without a transaction: the poll asks every interval)."""
    return sorted(conn.execute(WAITING_KEYS, {"bound": ADMIT_AT_ONCE}).scalars())


def admit_waiting(
    conn: AnyConnection, keys: list[str], now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """The poll's catch-up (:func:`~...service.run_queues.admit_waiting`) over ``keys``, keys with queued runs."""
    from .transitions import SqlRunStates  # it reads the queues through this module

    states = SqlRunStates(conn, use_outbox=use_outbox)
    plans = _admit_waiting(states, keys, Context(now, worker, rng), apply_facts)
    return [as_transition(done.run_id, done) for done in plans]


def queue_place(conn: AnyConnection, row: Any) -> QueuePlace | None:
    """Where a run read by the API waits (from its row), or None when it is not queued (no query then)."""
    if row.status != QUEUED or row.concurrency_key is None:
        return None
    priority, arrived = sa.func.coalesce(runs.c.priority, 0), runs.c.queued_at
    mine, then = row.priority or 0, row.queued_at or 0.0
    before = sa.or_(arrived < then, sa.and_(arrived == then, runs.c.id < row.id))
    ahead = sa.select(sa.func.count()).where(
        runs.c.concurrency_key == row.concurrency_key,
        runs.c.status == QUEUED,
        sa.or_(priority > mine, sa.and_(priority == mine, before)),
    )
    return QueuePlace(key_label(row.concurrency_key), int(conn.execute(ahead).scalar_one()) + 1)


compiled_once(globals())  # the poll reads these every interval
