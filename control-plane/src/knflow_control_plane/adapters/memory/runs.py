"""Runs in memory: the run state machine's transitions, run reads and the lifecycle outbox (the
:class:`~knflow_control_plane.ports.RunTransitions`, ``RunReads`` and ``Outbox`` ports).

The same path as the database's: every transition goes through ``apply_facts`` over the ``RunStates``
port (here, dicts), so ``domain/planner.py`` decides and this only keeps what its plans say. Each run is
always loaded whole (every step and output), so the planner never needs to ask for more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ...domain.concurrency import QueuedRun
from ...domain.event_waits import ArrivedEvent
from ...domain.model import AttemptStatus, NoSuchStep, Outcome, RunStatus, StepStatus, TransitionError
from ...domain.planner import plan_creation
from ...domain.records import NewRun, Transition, Worker
from ...domain.throttles import Throttled
from ...domain.transitions import (
    ApprovalDecided,
    AttemptFinished,
    Context,
    Fact,
    LeaseExpired,
    Need,
    Plan,
    RetryAsked,
    RunCancelled,
    RunState,
    RunTimedOut,
    StepsDue,
    TimerFired,
)
from ...domain.waits import not_decided
from ...service.run_queues import admit_waiting
from ...service.state_machine import apply_facts, as_transition
from ...service.throttles import dispatch
from . import concurrency as queues
from ._json import stored
from .run_reads import MemoryRunReads

#: the most characters of a cancelled attempt's output kept in its record (as the database keeps)
MAX_KEPT_LOGS = 1024 * 1024
#: a step's fields a plan changes; the others (bindings, dependents, policy...) are the run's plan
_CHANGED = (
    *("status", "waiting_on", "ready_at", "attempts", "budget_start", "infra_failures", "error"),
    *("started_at", "finished_at", "lease_owner", "lease_expires_at", "wake_at"),
)


class MemoryRuns(MemoryRunReads):
    """Runs, their steps and attempts, and the outbox, in this process.

    Args:
        outbox: keep lifecycle events in the outbox (as ``SqlAlchemyStore(outbox=True)``).
        rng: randomness for retry jitter (seed it in tests).
    """

    # -- transitions --------------------------------------------------------------------------
    async def create_run(self, new: NewRun, now: float, worker: Worker | None = None) -> Transition:
        """Create a run (idempotent on its trigger event); claim its first steps for ``worker``."""
        if new.idempotency is not None:
            key = (new.project, *new.idempotency, new.workflow)
            if key in self._keys:
                existing = self._runs[self._keys[key]]
                return Transition(existing["id"], RunStatus(existing["status"]), duplicate=True, created=False)
            self._keys[key] = new.run_id
        if new.concurrency is not None:
            new = replace(new, queued=queues.queued_at_creation(self._runs, new))
        state, first = plan_creation(new, Context(now, worker, self.rng))
        ended = first.run
        self._runs[new.run_id] = {
            "id": new.run_id,
            "project": new.project,
            "workflow": new.workflow,
            "workflow_version": new.workflow_version,
            "status": first.run_status.value,
            "inputs": stored(new.inputs),
            "result_binding": new.result,
            "trigger": stored(new.trigger),
            "remaining": ended.remaining if ended else state.remaining,
            "trace_id": new.trace_id,
            "created_at": now,
            "deadline": now + new.timeout if new.timeout and not new.queued else None,
            "result": ended.result if ended else None,
            "error": ended.error if ended else None,
            "finished_at": ended.finished_at if ended else None,
            **queues.columns(new, now),
        }
        self._steps[new.run_id] = {name: first.steps.get(name, step) for name, step in state.steps.items()}
        self._outputs[new.run_id] = {}
        self._write_attempts(new.run_id, first, Context(now, worker, self.rng))
        self._write_events(first, now)
        return Transition(new.run_id, first.run_status, list(first.claims), list(first.events))

    async def complete(
        self, run_id: str, step: str, attempt_id: str, outcome: Outcome, now: float, worker: Worker | None = None
    ) -> Transition:
        """Record an attempt's outcome at most once; claim what it made ready for ``worker``."""
        finished: list[Fact] = [AttemptFinished(step, attempt_id, outcome)]
        plans = apply_facts(self, {run_id: finished}, Context(now, worker, self.rng))
        done = plans[run_id]
        if done is None:
            return Transition(run_id, RunStatus.FAILED, duplicate=True)
        result = done.results[0]
        return Transition(run_id, result.run_status, result.claims, result.events, duplicate=result.duplicate)

    async def claim_ready(self, now: float, worker: Worker) -> list[Transition]:
        """Claim ready steps whose time has come, across runs, up to the worker's capacity."""
        if worker.capacity <= 0:
            return []
        ready = sorted(
            (step.ready_at or 0.0, run_id)
            for run_id, steps in self._steps.items()
            for step in steps.values()
            if step.status is StepStatus.READY and step.ready_at is not None and step.ready_at <= now
        )
        candidates = sorted({run_id for _, run_id in ready[: worker.capacity * 4]})
        due: list[Fact] = [StepsDue()]
        context = Context(now, worker, self.rng)
        plans = apply_facts(self, dict.fromkeys(candidates, due), context, share_room=True)
        return [as_transition(run_id, done) for run_id, done in plans.items() if done is not None and done.changes]

    async def expire_leases(self, now: float, worker: Worker, limit: int = 100) -> list[Transition]:
        """Attempts whose lease ran out are recorded as lost; their steps become ready."""
        expired = sorted(
            (run_id, step.name, step.attempts)
            for run_id, steps in self._steps.items()
            for step in steps.values()
            if step.status is StepStatus.RUNNING and step.lease_expires_at is not None and step.lease_expires_at < now
        )[:limit]
        expired += self._maps.expired(now)[:limit]  # items of map steps
        facts: dict[str, list[Fact]] = {}
        for run_id, name, number in expired:
            facts.setdefault(run_id, []).append(LeaseExpired(name, number))
        return _applied(apply_facts(self, facts, Context(now, None, self.rng), skip_locked=True))

    async def admit_waiting(self, now: float, worker: Worker) -> list[Transition]:
        """Start queued runs whose key has room (the poll's catch-up: see ``service/admission.py``)."""
        keys = queues.waiting_keys(self._runs)
        plans = admit_waiting(self, keys, Context(now, worker, self.rng), apply_facts) if keys else []
        return [as_transition(done.run_id, done) for done in plans]

    async def dispatch_throttled(self, now: float, worker: Worker) -> list[Transition]:
        """Start steps held by their action's ``max_concurrency`` that have room (``service/throttles.py``)."""
        actions = queues.throttled_actions(self._runs, self._steps)
        plans = dispatch(self, actions, Context(now, worker, self.rng), apply_facts) if actions else []
        return [as_transition(done.run_id, done) for done in plans]

    async def expire_runs(self, now: float, limit: int = 100) -> list[Transition]:
        """Runs past their timeout fail; their running attempts are abandoned."""
        overdue = [
            run_id
            for run_id, run in sorted(self._runs.items())
            if run["status"] == RunStatus.RUNNING.value and run["deadline"] is not None and run["deadline"] < now
        ][:limit]
        timed_out: list[Fact] = [RunTimedOut()]
        return _applied(apply_facts(self, dict.fromkeys(overdue, timed_out), Context(now, None, self.rng)))

    async def cancel_run(self, run_id: str, now: float, project: str) -> Transition | None:
        """Cancel a running run; None when ``project`` has no such run."""
        run = self._runs.get(run_id)
        if run is None or run["project"] != project:
            return None
        if RunStatus(run["status"]).finished:
            return Transition(run_id, RunStatus(run["status"]), created=False)
        cancelled: list[Fact] = [RunCancelled()]
        return as_transition(run_id, apply_facts(self, {run_id: cancelled}, Context(now))[run_id])

    async def decide(self, run_id: str, project: str, decision: ApprovalDecided, now: float) -> Transition | None:
        """Approve or reject a waiting approval (see ``SqlAlchemyStore.decide``); None when ``project`` has
        no such run.

        Raises:
            NoSuchStep: the run has no step of that name.
            TransitionError: the step is not waiting for a decision.
        """
        run = self._runs.get(run_id)
        if run is None or run["project"] != project:
            return None
        step = self._steps[run_id].get(decision.step)
        if step is None:
            raise NoSuchStep(f"no step {decision.step!r}")
        facts: list[Fact] = [decision]
        done = as_transition(run_id, apply_facts(self, {run_id: facts}, Context(now))[run_id])
        if done.duplicate:
            raise TransitionError(not_decided(decision.step, step.status.value, step.wait))
        return done

    async def fire_timers(self, now: float, limit: int = 100) -> list[Transition]:
        """Waiting steps whose deadline passed end (a sleep succeeds, an approval fails with a timeout)."""
        due = sorted(
            (run_id, step.name)
            for run_id, steps in self._steps.items()
            for step in steps.values()
            if step.status is StepStatus.WAITING and step.wake_at is not None and step.wake_at <= now
        )[:limit]
        facts: dict[str, list[Fact]] = {}
        for run_id, name in due:
            facts.setdefault(run_id, []).append(TimerFired(name))
        return _applied(apply_facts(self, facts, Context(now, None, self.rng), skip_locked=True))

    async def resume_waits(self, event: ArrivedEvent, now: float) -> list[Transition]:
        """Resume every step waiting for ``event`` (see ``SqlAlchemyStore.resume_waits``)."""
        facts = self._event_waits.facts_for(event)
        return _applied(apply_facts(self, facts, Context(now, None, self.rng))) if facts else []

    async def keep_logs(self, attempt_id: str, logs: str) -> None:
        """Keep the output of an attempt abandoned by its run's cancellation (a no-op for any other)."""
        attempt = self._attempts.get(attempt_id)
        if attempt is not None and attempt["status"] == AttemptStatus.CANCELLED.value:
            if len(logs) > MAX_KEPT_LOGS:
                logs = logs[:MAX_KEPT_LOGS] + f"\n[knflow: output cut at {MAX_KEPT_LOGS} characters]\n"
            attempt["logs"] = logs

    async def retry_run(self, run_id: str, now: float, project: str, step: str | None = None) -> Transition | None:
        """Retry a finished run (see ``SqlAlchemyStore.retry_run``); None when ``project`` has no such run.

        Raises:
            TransitionError: when the run still runs, has no such step, or nothing would run again.
        """
        run = self._runs.get(run_id)
        if run is None or run["project"] != project:
            return None
        asked: list[Fact] = [RetryAsked(step)]
        return as_transition(run_id, apply_facts(self, {run_id: asked}, Context(now))[run_id])

    async def renew_leases(self, worker: str, keys: list[tuple[str, str]], until: float) -> int:
        """Extend the leases ``worker`` holds on the steps ``keys``; how many it still holds."""
        held = 0
        for run_id, name in keys:
            if "[" in name:  # an item of a map step
                held += self._maps.hold(worker, run_id, name, until)
                continue
            step = self._steps.get(run_id, {}).get(name)
            if step is not None and step.lease_owner == worker and step.status is StepStatus.RUNNING:
                self._steps[run_id][name] = replace(step, lease_expires_at=until)
                held += 1
        return held

    async def next_due(self) -> float | None:
        """When the next ready step becomes claimable, a lease expires or a waiting step's deadline passes."""
        due = {StepStatus.READY: "ready_at", StepStatus.RUNNING: "lease_expires_at", StepStatus.WAITING: "wake_at"}
        times = [
            getattr(step, due[step.status])
            for steps in self._steps.values()
            for step in steps.values()
            if step.status in due
        ]
        found = [t for t in times if t is not None]
        return min(found) if found else None

    # -- the RunStates port: what apply_facts loads and writes ----------------------------------
    def lock(self, run_ids: Sequence[str], *, skip_locked: bool) -> list[str]:
        """Nothing to lock: one event loop runs every transition to its end."""
        return sorted(run_ids)

    def load_for(self, facts: Mapping[str, Sequence[Fact]], now: float) -> dict[str, RunState]:
        """Each existing run whole: every step and every output."""
        return {run_id: self._state(run_id) for run_id in facts if run_id in self._runs}

    def load_more(self, state: RunState, need: Need, now: float) -> RunState:
        """Nothing more to load but map steps' counts and items: :meth:`load_for` loaded the rest."""
        return self._maps.load(state, need.maps) if need.maps else state

    def persist(self, plans: Sequence[tuple[Plan, Context]]) -> None:
        """Keep what each plan changed: steps, outputs, attempts, the run, its events."""
        for done, context in plans:
            steps = self._steps[done.run_id]
            for name, step in done.steps.items():
                steps[name] = replace(steps[name], **{field: getattr(step, field) for field in _CHANGED})
            self._outputs[done.run_id].update(stored(done.outputs))
            self._write_attempts(done.run_id, done, context)
            if done.run is not None:
                change = done.run
                self._runs[done.run_id].update(
                    status=change.status.value,
                    remaining=change.remaining,
                    result=stored(change.result),
                    error=change.error,
                    finished_at=change.finished_at,
                )
            self._write_events(done, context.now)
            for written in done.maps.values():
                self._maps.write(done.run_id, written, context.now)
            if done.waits:
                self._event_waits.add(done.waits)

    def queue_of(self, key: str, bound: int) -> tuple[int, list[QueuedRun]]:
        """The key's runs in progress and the head of its queue (nothing to lock here)."""
        return queues.queue_of(self._runs, key, bound)

    def admitted(self, run_ids: Sequence[str], now: float) -> None:
        """Runs that started from the queue: their timeout counts from ``now``."""
        queues.admitted(self._runs, run_ids, now)

    def requeue(self, run_ids: Sequence[str], now: float) -> None:
        """Runs retried into their queue arrive ``now``."""
        queues.requeue(self._runs, run_ids, now)

    def throttle_of(self, project: str, action: str, bound: int) -> tuple[int, list[Throttled]]:
        """The action's steps running and its throttled ones in order (nothing to lock here)."""
        return queues.throttle_of(self._runs, self._steps, project, action, bound)

    def _state(self, run_id: str) -> RunState:
        run = self._runs[run_id]
        outputs = self._outputs[run_id]
        return RunState(
            run_id,
            RunStatus(run["status"]),
            run["remaining"],
            run["inputs"],
            run["result_binding"],
            run["trace_id"],
            dict(self._steps[run_id]),
            outputs=dict(outputs),
            looked_up=frozenset(self._steps[run_id]),
            complete=True,
            project=run["project"],
            concurrency_key=run["concurrency_key"],
        )

    def _write_attempts(self, run_id: str, done: Plan, context: Context) -> None:
        for end in done.ended:
            attempt = self._attempts.get(end.attempt_id)
            if attempt is not None and attempt["status"] == AttemptStatus.RUNNING.value:
                attempt.update(status=end.status, outputs=stored(end.outputs), error=end.error)
                attempt.update(finished_at=context.now, logs=attempt["logs"] if end.logs is None else end.logs)
        for start in done.started:
            finish = start.end
            self._attempts[start.attempt_id] = {
                "id": start.attempt_id,
                "run_id": run_id,
                "step": start.step,
                "number": start.number,
                "status": finish.status if finish else AttemptStatus.RUNNING.value,
                "inputs": stored(start.inputs),
                "outputs": stored(finish.outputs) if finish else None,
                "error": finish.error if finish else None,
                "logs": (finish.logs or "") if finish else "",
                "worker": context.worker.name if context.worker else None,
                "started_at": context.now,
                "finished_at": context.now if finish else None,
            }

    def _write_events(self, done: Plan, now: float) -> None:
        if self.outbox:
            for e in done.events:
                row = {"type": e.type, "run_id": e.run_id, "step": e.step, "data": stored(e.data), "created_at": now}
                self._outbox_rows.append({"id": len(self._outbox_rows) + 1, **row, "published_at": None})

    def _forget_runs_of(self, project: str) -> None:
        """Delete the project's runs with their steps, attempts and trigger keys (its events stay, as
        the outbox's do in the database: they are the history already published or on its way)."""
        gone = {run_id for run_id, run in self._runs.items() if run["project"] == project}
        for table in (self._runs, self._steps, self._outputs):
            for run_id in gone:
                table.pop(run_id, None)
        self._maps.forget(gone)
        for attempt_id in [a for a, row in self._attempts.items() if row["run_id"] in gone]:
            del self._attempts[attempt_id]
        for key in [k for k in self._keys if k[0] == project]:
            del self._keys[key]


def _applied(plans: dict[str, Plan | None]) -> list[Transition]:
    """A transition per fact that changed its run, in order."""
    return [
        Transition(run_id, result.run_status, result.claims, result.events)
        for run_id, done in plans.items()
        if done is not None
        for result in done.results
        if not result.duplicate
    ]
