"""Run transitions that do not come from an attempt's reply: polling claims, lease expiry, run
timeouts, cancel, retry and lease renewal. Each public function is one transaction."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain import events as ev
from ...domain.model import Outcome, RunStatus, StepStatus, plan_retry
from ...domain.records import Transition, Worker
from . import statements as st
from .raw import AnyConnection
from .runs import claim, end_run, record
from .tables import runs, steps
from .tx import Tx, flush, lock_run, lock_runs, write_together


def claim_ready(
    conn: AnyConnection, now: float, worker: Worker, rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """Claim ready steps whose time has come, across runs, up to the worker's capacity.

    Runs locked by another worker are skipped (``SKIP LOCKED``), so replicas share the work. The runs
    are locked, their ready steps read and (on Postgres) their claims written by one statement each,
    however many runs there are: a thousand parked runs released at once are a few statements, not
    four a run.
    """
    if worker.capacity <= 0:
        return []
    # room to skip runs other replicas hold
    candidates = sorted(set(conn.execute(st.READY_RUNS, {"now": now, "room": worker.capacity * 4}).scalars()))
    if not candidates:
        return []
    lock = Tx(conn, now, None, rng, use_outbox, [], [])
    running = [
        run
        for run in lock_runs(lock, candidates, skip_locked=True).values()
        if run is not None and run.status == RunStatus.RUNNING.value
    ]
    ready = defaultdict(list)
    if running:
        for row in conn.execute(st.READY_STEPS_OF_RUNS, {"b_runs": [run.id for run in running], "now": now}):
            ready[row.run_id].append(row)
    transitions, held = [], []
    room = worker.capacity
    for run in running:
        if room <= 0:
            break
        if not ready[run.id]:
            continue  # claimed meanwhile (it was read before its run was locked)
        tx = Tx(conn, now, Worker(worker.name, worker.lease, room), rng, use_outbox, [], [])
        claim(tx, run, [row.name for row in ready[run.id]], rows=ready[run.id])
        room -= len(tx.claims)
        if tx.postgres:
            transitions.append(Transition(run.id, RunStatus.RUNNING, list(tx.claims), list(tx.events)))
            held.append((tx, run.id))
        else:
            transitions.append(flush(tx, run.id, RunStatus.RUNNING))
    if held:
        write_together(held)
    return transitions


def expire_leases(
    conn: Connection, now: float, worker: Worker, rng: random.Random, use_outbox: bool, limit: int = 100
) -> list[Transition]:
    """Attempts whose lease ran out (their worker died) are recorded as lost; their steps become ready."""
    expired = conn.execute(
        sa.select(steps.c.run_id, steps.c.name, steps.c.attempts)
        .where(steps.c.status == StepStatus.RUNNING.value, steps.c.lease_expires_at < now)
        .limit(limit)
    ).all()
    transitions = []
    for row in sorted(expired):
        tx = Tx(conn, now, None, rng, use_outbox, [], [])
        run = lock_run(tx, row.run_id, skip_locked=True)
        if run is None:
            continue
        attempt_id = f"{row.run_id}/{row.name}/{row.attempts}"
        status = record(
            tx, run, row.name, attempt_id, Outcome.lost("lease expired: the worker stopped"), claim_next=False
        )
        if status is not None:
            transitions.append(flush(tx, row.run_id, status))
    return transitions


def expire_runs(
    conn: Connection, now: float, rng: random.Random, use_outbox: bool, limit: int = 100
) -> list[Transition]:
    """Runs past their timeout fail; their running attempts are abandoned."""
    overdue = (
        conn.execute(
            sa.select(runs.c.id).where(runs.c.status == RunStatus.RUNNING.value, runs.c.deadline < now).limit(limit)
        )
        .scalars()
        .all()
    )
    transitions = []
    for run_id in overdue:
        tx = Tx(conn, now, None, rng, use_outbox, [], [])
        run = lock_run(tx, run_id, skip_locked=True)
        if run is None or run.status != RunStatus.RUNNING.value:
            continue
        error = {"type": "RunTimeout", "message": "the run exceeded its timeout", "step": None}
        _abandon_running(tx, run_id)
        end_run(tx, run_id, RunStatus.FAILED, error=error)
        transitions.append(flush(tx, run_id, RunStatus.FAILED))
    return transitions


def _abandon_running(tx: Tx, run_id: str) -> None:
    from .tables import attempts

    tx.conn.execute(
        attempts.update()
        .where(attempts.c.run_id == run_id, attempts.c.status == "running")
        .values(status="cancelled", finished_at=tx.now)
    )
    tx.conn.execute(
        steps.update()
        .where(steps.c.run_id == run_id, steps.c.status == StepStatus.RUNNING.value)
        .values(status=StepStatus.CANCELLED.value, finished_at=tx.now, lease_owner=None, lease_expires_at=None)
    )


def cancel_run(conn: Connection, run_id: str, now: float, project: str, use_outbox: bool) -> Transition | None:
    """Cancel a running run: nothing new starts; running attempts are abandoned (late replies ignored).

    Returns None when the run does not exist in ``project``.
    """
    tx = Tx(conn, now, None, random.Random(), use_outbox, [], [])
    run = lock_run(tx, run_id, project=project)
    if run is None:
        return None
    if run.status != RunStatus.RUNNING.value:
        return Transition(run_id, RunStatus(run.status), created=False)
    end_run(tx, run_id, RunStatus.CANCELLED, error={"type": "Cancelled", "message": "cancelled", "step": None})
    return flush(tx, run_id, RunStatus.CANCELLED)


def retry_run(
    conn: Connection, run_id: str, now: float, project: str, use_outbox: bool, step: str | None = None
) -> Transition | None:
    """Run a finished run again from the steps that did not succeed (and from ``step`` and everything
    downstream of it, when given), reusing the outputs of the others; each retried step gets its full
    retry budget again (the rule: :func:`~knflow_control_plane.domain.model.plan_retry`).

    Returns None when the run does not exist in ``project`` (whatever its state: a conflict would tell
    another project that it exists).

    Raises:
        TransitionError: when the run still runs, has no such step, or nothing would run again.
    """
    tx = Tx(conn, now, None, random.Random(), use_outbox, [], [])
    run = lock_run(tx, run_id, project=project)
    if run is None:
        return None
    rows = conn.execute(sa.select(steps.c.name, steps.c.status, steps.c.upstream).where(steps.c.run_id == run_id)).all()
    again = plan_retry(RunStatus(run.status), {r.name: (r.status, list(r.upstream)) for r in rows}, step)
    done = {r.name for r in rows if r.name not in again}
    redo = [r for r in rows if r.name in again]
    updates: list[dict[str, Any]] = []
    for r in redo:
        waiting = sum(1 for up in r.upstream if up not in done)
        updates.append(
            {
                "n": r.name,
                "w": waiting,
                "s": StepStatus.READY.value if waiting == 0 else StepStatus.PENDING.value,
                "at": now if waiting == 0 else None,
            }
        )
    if updates:
        conn.execute(
            steps.update()
            .where(steps.c.run_id == run_id, steps.c.name == sa.bindparam("n"))
            .values(
                status=sa.bindparam("s"),
                waiting_on=sa.bindparam("w"),
                ready_at=sa.bindparam("at"),
                budget_start=steps.c.attempts,
                infra_failures=0,
                error=None,
                finished_at=None,
                lease_owner=None,
                lease_expires_at=None,
            ),
            updates,
        )
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(status=RunStatus.RUNNING.value, remaining=len(redo), error=None, result=None, finished_at=None)
    )
    tx.emit(ev.RUN_STARTED, run_id, retry=True, steps=[r.name for r in redo])
    return flush(tx, run_id, RunStatus.RUNNING)


def renew_leases(conn: Connection, worker: str, keys: list[tuple[str, str]], until: float) -> int:
    """Extend the leases ``worker`` holds on the steps ``keys`` (run id, step) (see :func:`hold_leases`)."""
    if not keys:
        return 0
    return hold_leases(conn, worker, [(run_id, step, until) for run_id, step in keys])


def hold_leases(conn: Connection, worker: str, holds: list[tuple[str, str, float]]) -> int:
    """Set the lease end of each (run id, step, until) that ``worker`` still holds; the driver's row count
    (-1 where it reports none for a batch: asyncpg)."""
    result = conn.execute(
        steps.update()
        .where(
            steps.c.run_id == sa.bindparam("r"),
            steps.c.name == sa.bindparam("n"),
            steps.c.lease_owner == worker,
            steps.c.status == StepStatus.RUNNING.value,
        )
        .values(lease_expires_at=sa.bindparam("until")),
        [{"r": run_id, "n": step, "until": until} for run_id, step, until in holds],
    )
    return int(result.rowcount)


def next_due(conn: AnyConnection) -> float | None:
    """The earliest time a ready step becomes claimable or a lease expires (for the worker's sleep)."""
    ready = conn.execute(st.NEXT_READY).scalar()
    lease = conn.execute(st.NEXT_LEASE_EXPIRY).scalar()
    times = [t for t in (ready, lease) if t is not None]
    return min(times) if times else None


#: the most characters of a cancelled attempt's output kept in its record
MAX_KEPT_LOGS = 1024 * 1024


def keep_logs(conn: Connection, attempt_id: str, logs: str) -> None:
    """Keep the output of an attempt its run's cancellation abandoned (only a ``cancelled`` attempt's)."""
    from .tables import attempts

    if len(logs) > MAX_KEPT_LOGS:
        logs = logs[:MAX_KEPT_LOGS] + f"\n[knflow: output cut at {MAX_KEPT_LOGS} characters]\n"
    conn.execute(
        attempts.update().where(attempts.c.id == attempt_id, attempts.c.status == "cancelled").values(logs=logs)
    )
