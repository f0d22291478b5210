"""One transaction of run transitions: what it accumulates (:class:`Tx`), the run locks it takes first,
and what it writes last (``flush``; on Postgres one statement for every run's claims, ends and events).

Every transaction that changes a run first locks its ``runs`` row: all transitions of one run are
serialised (no lost updates, no lock-order deadlocks), while different runs proceed in parallel.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...domain.events import LifecycleEvent
from ...domain.model import RunStatus
from ...domain.records import Claim, Transition, Worker
from . import statements as st
from . import statements_pg as pg
from .raw import AnyConnection, execute_later


@dataclass
class Tx:
    """What one transaction accumulates: events to write and claims to hand back.

    On Postgres the writes that nothing in the transaction reads again (the claims' step and attempt
    rows, the run's end, the events) wait in ``started`` and ``ending`` and are written together, by
    one statement, in :func:`flush` (``pg.WRITE_PG``): a statement is a round trip there.
    """

    conn: AnyConnection
    now: float
    worker: Worker | None
    rng: random.Random
    outbox: bool
    events: list[LifecycleEvent]
    claims: list[Claim]
    started: list[dict[str, Any]] = field(default_factory=list)
    ending: dict[str, Any] | None = None
    #: Whether writes are batched into one statement (``pg.WRITE_PG``).
    postgres: bool = field(init=False)

    def __post_init__(self) -> None:
        self.postgres = self.conn.dialect.name == "postgresql"

    def emit(self, type_: str, run_id: str, step: str | None = None, **data: Any) -> None:
        self.events.append(LifecycleEvent(type_, run_id, step, data))


@dataclass(frozen=True)
class RunState:
    """The part of a run row that transitions read."""

    id: str
    status: str
    inputs: dict[str, Any]
    result_binding: dict[str, Any] | None
    trace_id: str | None


def lock_run(tx: Tx, run_id: str, *, skip_locked: bool = False, project: str | None = None) -> RunState | None:
    """The run, its row locked for this transaction (Postgres; SQLite has one writer anyway); with
    ``project``, None as well when the run belongs to another project."""
    dialect = tx.conn.dialect.name
    if project is not None:
        statement = st.LOCK_PROJECT_RUN.get(dialect, st.LOCK_PROJECT_RUN["sqlite"])
        row = tx.conn.execute(statement, {"b_run": run_id, "b_project": project}).first()
        return RunState(row.id, row.status, row.inputs, row.result_binding, row.trace_id) if row else None
    key = f"{dialect}-skip" if skip_locked and dialect == "postgresql" else dialect
    row = tx.conn.execute(st.LOCK_RUN.get(key, st.LOCK_RUN["sqlite"]), {"b_run": run_id}).first()
    return RunState(row.id, row.status, row.inputs, row.result_binding, row.trace_id) if row else None


def lock_runs(tx: Tx, run_ids: Sequence[str], *, skip_locked: bool = False) -> dict[str, RunState | None]:
    """Several runs, as :func:`lock_run` each, in one statement (rows locked in the order of the ids)."""
    if len(run_ids) == 1:
        return {run_ids[0]: lock_run(tx, run_ids[0], skip_locked=skip_locked)}
    dialect = tx.conn.dialect.name
    key = f"{dialect}-skip" if skip_locked and dialect == "postgresql" else dialect
    statement = st.LOCK_RUNS.get(key, st.LOCK_RUNS["sqlite"])
    found = {
        row.id: RunState(row.id, row.status, row.inputs, row.result_binding, row.trace_id)
        for row in tx.conn.execute(statement, {"b_runs": list(run_ids)})
    }
    return {run_id: found.get(run_id) for run_id in run_ids}


def flush(tx: Tx, run_id: str, status: RunStatus, **extra: Any) -> Transition:
    """Write what the transaction still holds (events; on Postgres also claims and the run's end)."""
    if tx.postgres:
        _write(tx, run_id, with_events=True)
    elif tx.outbox and tx.events:
        tx.conn.execute(
            st.INSERT_OUTBOX,
            [
                {"type": e.type, "run_id": e.run_id, "step": e.step, "data": e.data, "created_at": tx.now}
                for e in tx.events
            ],
        )
    return Transition(run_id, status, list(tx.claims), list(tx.events), **extra)


def _write(tx: Tx, run_id: str, *, with_events: bool) -> None:
    """Postgres: the claims and run end held so far (and the events, when ``with_events``), one statement."""
    write_together([(tx, run_id)], with_events=with_events)


def write_together(held: Sequence[tuple[Tx, str]], *, with_events: bool = True) -> None:
    """Postgres: what transitions of several runs hold (``(tx, run_id)`` each, one worker, one ``now``),
    one statement for all (``pg.WRITE_PG``)."""
    claims, ends, events = [], [], []
    for tx, run_id in held:
        claims += [{"r": run_id, **started} for started in tx.started]
        if tx.ending:
            ends.append({"r": run_id, **tx.ending})
        if with_events and tx.outbox:
            events += tx.events
        tx.started, tx.ending = [], None
    if not (claims or ends or events):
        return
    tx, _ = held[0]
    execute_later(  # nothing reads its counts: it goes out with the next statement, or the COMMIT
        tx.conn,
        pg.WRITE_PG,
        {
            "now": tx.now,
            "owner": tx.worker.name if tx.worker else None,
            "until": tx.now + tx.worker.lease if tx.worker else None,
            "run_ids": sorted({row["r"] for row in (*claims, *ends)}),
            "claims": claims,
            "ends": ends,
            "events": [
                {"i": i, "type": e.type, "run_id": e.run_id, "step": e.step, "data": e.data}
                for i, e in enumerate(events)
            ],
        },
    )
