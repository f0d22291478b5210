"""Run transitions as SQL, within one transaction (``sqlalchemy_tx``: the run locked first, the writes
held to its end): claims, outcomes recorded, runs ended. The rules themselves (what becomes ready, retry
or fail) come from :mod:`..domain.model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from knflow.bindings import BindingError, resolve

from ...domain import events as ev
from ...domain.model import (
    AttemptStatus,
    Outcome,
    RetryPolicy,
    RunStatus,
    StepCounters,
    StepStatus,
    decide_after_failure,
    result_steps,
)
from ...domain.records import Claim
from . import statements as st
from . import statements_pg as pg
from .raw import AnyConnection
from .tables import attempts, steps
from .tx import RunState, Tx, write_together


def claim(
    tx: Tx,
    run: RunState,
    names: Sequence[str],
    rows: Sequence[Any] | None = None,
    known: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Start an attempt of each ready step in ``names`` (within the worker's capacity).

    ``rows`` are those steps' rows when the caller already has them; ``known`` are outputs of upstream
    steps already in memory (the step that just finished), which need not be read back.
    """
    assert tx.worker is not None
    run_id, run_inputs, trace_id = run.id, run.inputs, run.trace_id
    room = tx.worker.capacity - len(tx.claims)
    if not names or room <= 0:
        return
    if rows is None:
        rows = tx.conn.execute(
            st.READY_STEPS, {"b_run": run_id, "names": list(names), "now": tx.now, "room": room}
        ).all()
    rows = rows[:room]
    if not rows:
        return
    known = known or {}
    needed = sorted({up for row in rows for up in row.upstream if up not in known})
    outputs = {**known, **_outputs(tx.conn, run_id, needed)}
    started, unresolvable = [], []
    for row in rows:
        number = row.attempts + 1
        attempt_id = f"{run_id}/{row.name}/{number}"
        try:
            inputs = {k: resolve(b, run_inputs, outputs, f"steps.{row.name}.inputs.{k}") for k, b in row.inputs.items()}
        except BindingError as exc:
            inputs, error = (
                None,
                {"type": "BindingError", "message": str(exc), "code": 400, "retryable": False, "traceback": None},
            )
            unresolvable.append((row.name, attempt_id, error))
        started.append({"r": run_id, "n": row.name, "a": number, "id": attempt_id, "inputs": inputs})
        if inputs is not None:
            deadline = tx.now + float(row.policy["timeout"])
            tx.claims.append(
                Claim(attempt_id, run_id, row.name, number, row.action, row.version, inputs, deadline, trace_id)
            )
            tx.emit(ev.STEP_STARTED, run_id, row.name, attempt=number)
    if tx.postgres:
        tx.started += [{"n": s["n"], "a": s["a"], "id": s["id"], "inputs": s["inputs"]} for s in started]
        if unresolvable:
            write_together([(tx, run_id)], with_events=False)  # recording their failure updates these attempts
    else:
        _start(tx, run_id, started)
    for name, attempt_id, error in unresolvable:
        record(tx, run, name, attempt_id, Outcome.failed(error), claim_next=False)


def _start(tx: Tx, run_id: str, started: list[dict[str, Any]]) -> None:
    assert tx.worker is not None
    lease_until = tx.now + tx.worker.lease
    tx.conn.execute(
        st.START_STEP,
        [
            {"r": s["r"], "n": s["n"], "a": s["a"], "owner": tx.worker.name, "until": lease_until, "now": tx.now}
            for s in started
        ],
    )
    tx.conn.execute(
        st.INSERT_ATTEMPT,
        [
            {
                "id": s["id"],
                "run_id": run_id,
                "step": s["n"],
                "number": s["a"],
                "status": AttemptStatus.RUNNING.value,
                "inputs": s["inputs"],
                "worker": tx.worker.name,
                "started_at": tx.now,
            }
            for s in started
        ],
    )


def _outputs(conn: AnyConnection, run_id: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = list(names)
    if not wanted:
        return {}
    rows = conn.execute(st.STEP_OUTPUTS, {"b_run": run_id, "names": wanted})
    return {row.name: row.outputs or {} for row in rows}


def record(
    tx: Tx, run: RunState, step: str, attempt_id: str, outcome: Outcome, *, claim_next: bool
) -> RunStatus | None:
    """Record one attempt's outcome (at most once) and apply what follows; None if already recorded."""
    if tx.postgres and outcome.status is AttemptStatus.SUCCEEDED and run.status == RunStatus.RUNNING.value:
        return _succeeded_at_once(tx, run, step, attempt_id, outcome, claim_next=claim_next)
    recorded = tx.conn.execute(
        st.FINISH_ATTEMPT,
        {
            "attempt_id": attempt_id,
            "new_status": outcome.status.value,
            "new_outputs": outcome.outputs,
            "new_error": outcome.error,
            "new_logs": outcome.logs,
            "now": tx.now,
        },
    )
    if recorded.rowcount == 0:
        return None
    if outcome.status is AttemptStatus.SUCCEEDED:
        return _succeeded(tx, run, step, outcome, claim_next=claim_next)
    return _not_succeeded(tx, run, step, outcome, claim_next=claim_next)


def _succeeded(tx: Tx, run: RunState, step: str, outcome: Outcome, *, claim_next: bool) -> RunStatus:
    row = tx.conn.execute(
        st.STEP_SUCCEEDED, {"b_run": run.id, "step": step, "new_outputs": outcome.outputs, "now": tx.now}
    ).one()
    tx.emit(ev.STEP_SUCCEEDED, run.id, step)
    if run.status != RunStatus.RUNNING.value:
        return RunStatus(run.status)  # cancelled or failed meanwhile: keep the output for a retry, start nothing
    ready = _release_dependents(tx, run.id, row.dependents)
    remaining = tx.conn.execute(st.DECREMENT_REMAINING, {"b_run": run.id}).scalar_one()
    if remaining == 0:
        return finish_succeeded(tx, run)
    if claim_next and ready:
        claim(tx, run, [r.name for r in ready], rows=ready, known={step: outcome.outputs or {}})
    return RunStatus.RUNNING


def _succeeded_at_once(
    tx: Tx, run: RunState, step: str, attempt_id: str, outcome: Outcome, *, claim_next: bool
) -> RunStatus | None:
    """:func:`record` of a success in a running run, as one statement (Postgres: ``pg.SUCCEED_PG``)."""
    return _after_success(tx, run, step, outcome, _succeed(tx, run.id, step, attempt_id, outcome), claim_next)


def record_success(
    tx: Tx, run_id: str, step: str, attempt_id: str, outcome: Outcome, *, claim_next: bool
) -> tuple[RunState | None, RunStatus | None]:
    """Postgres, the run's row locked by an earlier statement that read nothing (``pg.LOCK_PG``, sent
    with ``BEGIN``): :func:`record` of a success, the run read by the statement that records it. One
    round trip fewer than :func:`lock_run` then :func:`record`. The run (None: no such run) and what
    :func:`record` returns."""
    rows = _succeed(tx, run_id, step, attempt_id, outcome)
    head = rows[0]
    if head.run_status is None:
        return None, None
    run = RunState(run_id, head.run_status, head.run_inputs, head.run_result_binding, head.run_trace_id)
    if run.status != RunStatus.RUNNING.value:  # nothing was written: the general case decides
        return run, record(tx, run, step, attempt_id, outcome, claim_next=claim_next)
    return run, _after_success(tx, run, step, outcome, rows, claim_next)


def _succeed(tx: Tx, run_id: str, step: str, attempt_id: str, outcome: Outcome) -> Sequence[Any]:
    return tx.conn.execute(
        pg.SUCCEED_PG,
        {
            "attempt_id": attempt_id,
            "b_run": run_id,
            "step": step,
            "new_status": outcome.status.value,
            "new_outputs": outcome.outputs,
            "new_error": outcome.error,
            "new_logs": outcome.logs,
            "now": tx.now,
        },
    ).all()


def _after_success(
    tx: Tx, run: RunState, step: str, outcome: Outcome, rows: Sequence[Any], claim_next: bool
) -> RunStatus | None:
    """What follows ``pg.SUCCEED_PG``'s ``rows`` in a running run: claim what became ready, or end."""
    if not rows[0].recorded:
        return None
    if rows[0].remaining is None:
        raise LookupError(f"run {run.id} has no step {step!r}")
    tx.emit(ev.STEP_SUCCEEDED, run.id, step)
    known = {step: outcome.outputs or {}}
    if rows[0].remaining == 0:
        return finish_succeeded(tx, run, known)
    ready = [r for r in rows if r.name is not None]
    if claim_next and ready:
        claim(tx, run, [r.name for r in ready], rows=ready, known=known)
    return RunStatus.RUNNING


def _release_dependents(tx: Tx, run_id: str, dependents: list[str]) -> list[Any]:
    """Dependents one fewer step waits on; returns the rows of those that became ready, by name."""
    if not dependents:
        return []
    released = tx.conn.execute(st.RELEASE_DEPENDENTS, {"b_run": run_id, "names": list(dependents), "now": tx.now}).all()
    return sorted((r for r in released if r.status == StepStatus.READY.value), key=lambda r: r.name)


def finish_succeeded(tx: Tx, run: RunState, known: dict[str, dict[str, Any]] | None = None) -> RunStatus:
    """End a run whose last step succeeded: its result (``known``: outputs already in memory)."""
    binding = run.result_binding
    known = known or {}
    try:
        if binding:
            missing = [name for name in result_steps(binding) if name not in known]
            result = resolve(binding, run.inputs, {**known, **_outputs(tx.conn, run.id, missing)}, "result")
        else:
            result = None
    except BindingError as exc:
        error = {"type": "BindingError", "message": str(exc), "step": None}
        end_run(tx, run.id, RunStatus.FAILED, error=error)
        return RunStatus.FAILED
    end_run(tx, run.id, RunStatus.SUCCEEDED, result=result)
    return RunStatus.SUCCEEDED


def _not_succeeded(tx: Tx, run: RunState, step: str, outcome: Outcome, *, claim_next: bool) -> RunStatus:
    row = tx.conn.execute(st.FAILED_STEP, {"b_run": run.id, "step": step}).one()
    if run.status != RunStatus.RUNNING.value:
        _set_step(tx, run.id, step, StepStatus.CANCELLED, error=outcome.error)
        return RunStatus(run.status)
    counters = StepCounters(row.attempts - row.budget_start, row.infra_failures)
    decision = decide_after_failure(outcome, counters, RetryPolicy(**row.policy), tx.rng)
    if decision.status is StepStatus.READY:
        tx.conn.execute(
            st.RETRY_STEP,
            {"b_run": run.id, "step": step, "at": tx.now + decision.retry_in, "infra": 1 if decision.infra else 0},
        )
        tx.emit(ev.STEP_RETRYING, run.id, step, retry_in=decision.retry_in, error=outcome.error)
        if claim_next and decision.retry_in == 0:
            claim(tx, run, [step])
        return RunStatus.RUNNING
    _set_step(tx, run.id, step, StepStatus.FAILED, error=outcome.error)
    tx.emit(ev.STEP_FAILED, run.id, step, error=outcome.error)
    end_run(tx, run.id, RunStatus.FAILED, error={"step": step, **(outcome.error or {})})
    return RunStatus.FAILED


def _set_step(tx: Tx, run_id: str, step: str, status: StepStatus, error: dict[str, Any] | None) -> None:
    tx.conn.execute(
        st.SET_STEP, {"b_run": run_id, "step": step, "new_status": status.value, "new_error": error, "now": tx.now}
    )


def end_run(tx: Tx, run_id: str, status: RunStatus, *, result: Any = None, error: dict[str, Any] | None = None) -> None:
    """Finish the run: steps that have not started never will; running attempts are abandoned."""
    if status is not RunStatus.SUCCEEDED:
        leftover = StepStatus.CANCELLED if status is RunStatus.CANCELLED else StepStatus.SKIPPED
        tx.conn.execute(st.SKIP_ACTIVE, {"b_run": run_id, "new_status": leftover.value, "now": tx.now})
    if status is RunStatus.CANCELLED:
        tx.conn.execute(
            attempts.update()
            .where(attempts.c.run_id == run_id, attempts.c.status == AttemptStatus.RUNNING.value)
            .values(status=AttemptStatus.CANCELLED.value, finished_at=tx.now)
        )
        tx.conn.execute(
            steps.update()
            .where(steps.c.run_id == run_id, steps.c.status == StepStatus.RUNNING.value)
            .values(status=StepStatus.CANCELLED.value, finished_at=tx.now, lease_owner=None, lease_expires_at=None)
        )
    if tx.postgres:  # written by flush(), with the events
        tx.ending = {"status": status.value, "result": result, "error": error}
    else:
        tx.conn.execute(
            st.END_RUN,
            {"b_run": run_id, "new_status": status.value, "new_result": result, "new_error": error, "now": tx.now},
        )
    kind = {
        RunStatus.SUCCEEDED: ev.RUN_SUCCEEDED,
        RunStatus.FAILED: ev.RUN_FAILED,
        RunStatus.CANCELLED: ev.RUN_CANCELLED,
    }[status]
    tx.emit(kind, run_id, result=result, error=error)
