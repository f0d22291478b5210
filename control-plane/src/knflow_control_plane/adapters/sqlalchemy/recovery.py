"""Run transitions that do not come from an attempt's reply: polling claims (a timer fired), lease
expiry, run timeouts, cancel, retry, each one fact for the state machine (``transitions``);
and lease renewal. Each public function is one transaction."""

from __future__ import annotations

import random
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.model import RunStatus, StepStatus
from ...domain.records import Transition, Worker
from ...domain.transitions import Context, Fact, LeaseExpired, Plan, RetryAsked, RunCancelled, RunTimedOut, StepsDue
from ...service.state_machine import as_transition
from . import maps
from . import statements as st
from .raw import AnyConnection
from .tables import runs, steps
from .transitions import transition


def claim_ready(
    conn: AnyConnection, now: float, worker: Worker, rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """Claim ready steps whose time has come, across runs, up to the worker's capacity.

    Runs locked by another worker are skipped (``SKIP LOCKED``), so replicas share the work. The runs
    are locked, their ready steps read and their claims written by one statement each, however many
    runs there are: a thousand parked runs released at once are a few statements, not four a run.
    """
    if worker.capacity <= 0:
        return []
    # room to skip runs other replicas hold
    candidates = sorted(set(conn.execute(st.READY_RUNS, {"now": now, "room": worker.capacity * 4}).scalars()))
    if not candidates:
        return []
    due: list[Fact] = [StepsDue()]
    plans = transition(
        conn,
        dict.fromkeys(candidates, due),
        Context(now, worker, rng),
        skip_locked=True,
        use_outbox=use_outbox,
        share_room=True,
    )
    return [as_transition(run_id, done) for run_id, done in plans.items() if done is not None and done.changes]


def expire_leases(
    conn: AnyConnection, now: float, worker: Worker, rng: random.Random, use_outbox: bool, limit: int = 100
) -> list[Transition]:
    """Attempts whose lease ran out (their worker died) are recorded as lost; their steps become ready
    (a transition per attempt lost)."""
    expired = conn.execute(
        sa.select(steps.c.run_id, steps.c.name, steps.c.attempts)
        .where(steps.c.status == StepStatus.RUNNING.value, steps.c.lease_expires_at < now)
        .limit(limit)
    ).all()
    facts: dict[str, list[Fact]] = defaultdict(list)
    for row in sorted(expired):
        facts[row.run_id].append(LeaseExpired(row.name, row.attempts))
    for run_id, item, number in maps.expired_items(conn, now, limit):  # items of map steps
        facts[run_id].append(LeaseExpired(item, number))
    plans = transition(conn, facts, Context(now, None, rng), skip_locked=True, use_outbox=use_outbox)
    return _applied(plans)


def _applied(plans: dict[str, Plan | None]) -> list[Transition]:
    """A transition per fact that changed its run, in order."""
    return [
        Transition(run_id, result.run_status, result.claims, result.events)
        for run_id, done in plans.items()
        if done is not None
        for result in done.results
        if not result.duplicate
    ]


def expire_runs(
    conn: AnyConnection, now: float, rng: random.Random, use_outbox: bool, limit: int = 100
) -> list[Transition]:
    """Runs past their timeout fail; their running attempts are abandoned."""
    overdue = (
        conn.execute(
            sa.select(runs.c.id).where(runs.c.status == RunStatus.RUNNING.value, runs.c.deadline < now).limit(limit)
        )
        .scalars()
        .all()
    )
    timed_out: list[Fact] = [RunTimedOut()]
    plans = transition(
        conn, dict.fromkeys(overdue, timed_out), Context(now, None, rng), skip_locked=True, use_outbox=use_outbox
    )
    return _applied(plans)


def _in_project(conn: AnyConnection, run_id: str, project: str) -> RunStatus | None:
    """The run's status, its row locked, when it belongs to ``project`` (else None: a request must never
    reach another project's run, nor learn that it exists)."""
    statement = st.LOCK_PROJECT_RUN.get(conn.dialect.name, st.LOCK_PROJECT_RUN["sqlite"])
    row = conn.execute(statement, {"b_run": run_id, "b_project": project}).first()
    return RunStatus(row.status) if row else None


def cancel_run(conn: AnyConnection, run_id: str, now: float, project: str, use_outbox: bool) -> Transition | None:
    """Cancel a running or queued run: nothing new starts; running attempts are abandoned (late replies
    ignored); a queued run leaves its queue.

    Returns None when the run does not exist in ``project``.
    """
    status = _in_project(conn, run_id, project)
    if status is None:
        return None
    if status.finished:
        return Transition(run_id, status, created=False)
    cancelled: list[Fact] = [RunCancelled()]
    plans = transition(conn, {run_id: cancelled}, Context(now), use_outbox=use_outbox)
    return as_transition(run_id, plans[run_id])


def retry_run(
    conn: AnyConnection, run_id: str, now: float, project: str, use_outbox: bool, step: str | None = None
) -> Transition | None:
    """Run a finished run again from the steps that did not succeed (and from ``step`` and everything
    downstream of it, when given), reusing the outputs of the others; each retried step gets its full
    retry budget again (the rule: :func:`~knflow_control_plane.domain.model.plan_retry`).

    Returns None when the run does not exist in ``project`` (whatever its state: a conflict would tell
    another project that it exists).

    Raises:
        TransitionError: when the run still runs, has no such step, or nothing would run again.
    """
    if _in_project(conn, run_id, project) is None:
        return None
    asked: list[Fact] = [RetryAsked(step)]
    plans = transition(conn, {run_id: asked}, Context(now), use_outbox=use_outbox)
    return as_transition(run_id, plans[run_id])


def renew_leases(conn: Connection, worker: str, keys: list[tuple[str, str]], until: float) -> int:
    """Extend the leases ``worker`` holds on the steps ``keys`` (run id, step) (see :func:`hold_leases`)."""
    if not keys:
        return 0
    return hold_leases(conn, worker, [(run_id, step, until) for run_id, step in keys])


def hold_leases(conn: Connection, worker: str, holds: list[tuple[str, str, float]]) -> int:
    """Set the lease end of each (run id, step, until) that ``worker`` still holds; the driver's row count
    (-1 where it reports none for a batch: asyncpg)."""
    items = [hold for hold in holds if "[" in hold[1]]  # items of map steps (``step[index]``)
    if items:
        held = maps.hold_items(conn, worker, items)
        holds = [hold for hold in holds if "[" not in hold[1]]
        return held + hold_leases(conn, worker, holds) if holds else held
    result = conn.execute(
        steps.update()
        .where(
            steps.c.run_id == sa.bindparam("run_key"),
            steps.c.name == sa.bindparam("step_key"),
            steps.c.lease_owner == worker,
            steps.c.status == StepStatus.RUNNING.value,
        )
        .values(lease_expires_at=sa.bindparam("until")),
        [{"run_key": run_id, "step_key": step, "until": until} for run_id, step, until in holds],
    )
    return int(result.rowcount)


def next_due(conn: AnyConnection) -> float | None:
    """The earliest time a ready step becomes claimable, a lease expires or a waiting step's deadline
    passes (for the worker's sleep)."""
    ready = conn.execute(st.NEXT_READY).scalar()
    lease = conn.execute(st.NEXT_LEASE_EXPIRY).scalar()
    wake = conn.execute(st.NEXT_WAKE).scalar()
    times = [t for t in (ready, lease, wake) if t is not None]
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
