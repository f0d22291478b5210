"""The orchestrator: claims ready steps, invokes their functions, records outcomes, one transaction each.

Durable by construction: the store is the source of truth, this object only holds leases. If the
process dies, its leases expire and another replica (or this one, restarted) takes the steps over;
attempt ids make a late reply of the old attempt change nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from knflow import wire
from knflow_runtime.contract import encode_invoke

from ..domain.children import not_started
from ..domain.events import RUN_STARTED, STEP_RETRYING, STEP_THROTTLED
from ..domain.ids import new_span_id
from ..domain.model import Outcome, RunStatus
from ..domain.records import Claim, NewRun, Transition, Worker
from ..errors import BuildFailed, ControlPlaneError, DeployFailed, FunctionUnavailable, InvalidRequest
from ..observability import logs
from ..ports import Clock, FunctionBackend, HttpReply, HttpRequest, RunStore, RunTracer
from .functions import Functions
from .orchestrator_loops import OrchestratorLoops
from .outcomes import CheckedReply, outcome_of
from .run_waiters import RunWaiters

if TYPE_CHECKING:
    from .children import ChildRuns
    from .files import RunFiles
    from .live_logs import LiveLogs
    from .replies import Replies

log = logging.getLogger("knflow.orchestrator")


@dataclass(frozen=True)
class OrchestratorSettings:
    """How one orchestrator works.

    Attributes:
        worker: this replica's name, written on the leases it holds.
        lease: seconds a claim lasts without renewal; a dead worker's steps wait this long at most.
        capacity: attempts this replica runs at once.
        poll_interval: seconds between looks for work other replicas made ready.
        invoke_grace: seconds past an attempt's deadline before the HTTP call is given up.
    """

    worker: str = "knflow"
    lease: float = 15.0
    capacity: int = 1000
    poll_interval: float = 1.0
    invoke_grace: float = 5.0


AttemptListener = Callable[[Claim, Outcome | None, float], None]


def rfc3339(epoch: float) -> str:
    """An epoch time as RFC 3339 UTC text."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class Orchestrator(OrchestratorLoops):
    """Runs the steps of every run this replica claims."""

    def __init__(
        self,
        store: RunStore,
        functions: Functions,
        backend: FunctionBackend,
        clock: Clock,
        settings: OrchestratorSettings,
        tracer: RunTracer | None = None,
        files: RunFiles | None = None,
        replies: Replies | None = None,
    ):
        self.store = store
        #: async reply mode for attempts longer than the backend's request limit (None: never)
        self.replies = replies
        self.tracer = tracer
        #: presigned URLs into invoke events, file outputs checked and recorded, large values offloaded
        self.files = files
        #: where functions send their output while they run (``knflow logs --follow``); None: nowhere
        self.live: LiveLogs | None = None
        #: starts the child runs of sub-workflow steps (None: this replica runs none)
        self.children: ChildRuns | None = None
        self.functions = functions
        self.backend = backend
        self.clock = clock
        self.settings = settings
        self._inflight: dict[str, Claim] = {}
        #: attempts started here whose transition is not applied yet, per run (see ``wait``)
        self._runs_here: dict[str, int] = {}
        self._reserved = 0  # room promised to runs being created, not yet in _inflight
        self._tasks: set[asyncio.Task[None]] = set()
        #: requests waiting for runs to finish
        self.waiters = RunWaiters(store)
        self._listeners: list[Callable[[Transition], None]] = []
        self._attempt_listeners: list[AttemptListener] = []
        #: attempts this replica recorded as lost because their lease expired (a worker died)
        self.lease_expirations = 0
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._draining = False
        self._grace = 5.0  # seconds stop() waits for attempts in flight (until their deadlines once draining)

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start polling for work and renewing leases."""
        self._loops = [
            asyncio.create_task(self._poll(), name="knflow-poll"),
            asyncio.create_task(self._heartbeat(), name="knflow-heartbeat"),
        ]

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work; let in-flight attempts finish for ``grace`` seconds (5, or until their
        deadlines after :meth:`drain`), then abandon them (their leases expire and they are retried)."""
        self._draining = True
        for loop in self._loops[:1]:  # the poll; the heartbeat keeps renewing the leases of those waited for
            loop.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._grace if grace is None else grace)
        for task in [*self._tasks, *self._loops]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        await self.waiters.stop()

    def drain(self) -> tuple[int, float]:
        """Begin stopping: claim nothing more, answer every waiter (``ShuttingDown``), and make
        :meth:`stop` wait for the attempts in flight until their deadlines. Returns how many there are
        and the seconds :meth:`stop` may wait for them."""
        self._draining = True
        self.waiters.close()
        now = self.clock.now().timestamp()
        left = max((c.deadline - now + self.settings.invoke_grace for c in self._inflight.values()), default=0.0)
        self._grace = max(self._grace, left)
        return len(self._inflight), self._grace if self._inflight else 0.0

    def hurry(self) -> None:
        """Stop at once (a second Ctrl-C): the attempts in flight are abandoned, retried once their leases expire."""
        self._grace = 0.0
        for task in list(self._tasks):
            task.cancel()

    def on_transition(self, listener: Callable[[Transition], None]) -> None:
        """Call ``listener`` with every transition this replica makes (metrics, event relays)."""
        self._listeners.append(listener)

    def on_attempt(self, listener: AttemptListener) -> None:
        """Call ``listener(claim, outcome, seconds)`` once each attempt this replica ran is recorded
        (``outcome`` None when it could not be recorded)."""
        self._attempt_listeners.append(listener)

    @property
    def inflight(self) -> int:
        """Attempts claimed here and not recorded yet."""
        return len(self._inflight)

    # -- runs ---------------------------------------------------------------------------------
    def worker(self) -> Worker:
        """This replica as a claimant, with the room it has left (minus room reserved by starting runs)."""
        room = 0 if self._draining else max(0, self.settings.capacity - len(self._inflight) - self._reserved)
        return Worker(self.settings.worker, self.settings.lease, room)

    async def submit(self, new: NewRun) -> Transition:
        """Create a run and start its first steps here."""
        if self.tracer is not None:
            new = self.tracer.adopt(new)
        logs.bind(run_id=new.run_id, trace_id=new.trace_id)
        # Reserve room for this run's first steps while its transaction runs: runs started together
        # (a burst of trigger events) would otherwise each see the same free room and overfill it.
        worker = self.worker()
        roots = sum(1 for step in new.steps if not step.upstream)
        reserved = min(worker.capacity, roots)
        self._reserved += reserved
        try:
            transition = await self.store.create_run(
                new, self.clock.now().timestamp(), Worker(worker.name, worker.lease, reserved)
            )
        finally:
            self._reserved -= reserved
        self.apply(transition)
        return transition

    async def wait(self, run_id: str, timeout: float, *, just_published: bool = False) -> tuple[str, Any, Any] | None:
        """Wait up to ``timeout`` seconds for a run to finish; its (status, result, error) either way
        (see :meth:`RunWaiters.wait`: ``just_published`` skips its first read)."""
        # A run with an attempt here whose transition is not applied yet is not finished, or its end is
        # seen anyway (that transition is applied here; an end elsewhere is found by the watcher): the
        # first read can go. The common case (``?wait=`` on a run started here); the read was ~10% of a
        # busy loop. Counted until the transition is applied: a completion waiting for its batch counts.
        skip_read = just_published or run_id in self._runs_here
        return await self.waiters.wait(run_id, timeout, skip_first_read=skip_read)

    def wake(self) -> None:
        """Look for claimable work now (a run was retried, a trigger fired...)."""
        self._wake.set()

    def apply(self, transition: Transition) -> None:
        """Act on a transition: start its claims, wake waiters, tell listeners."""
        for claim in transition.claims:
            self._inflight[claim.attempt_id] = claim
            self._runs_here[claim.run_id] = self._runs_here.get(claim.run_id, 0) + 1
            task = asyncio.create_task(self._execute(claim), name=f"attempt {claim.attempt_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(self._left, claim.run_id))
        self.waiters.notify(transition)
        # a retry's backoff, a queued run started by another's end (its roots ready: claimed at once), or a
        # step held by its action's max_concurrency (dispatched by the poll)
        if any(
            e.type in (STEP_RETRYING, STEP_THROTTLED) or (e.type == RUN_STARTED and e.run_id != transition.run_id)
            for e in transition.events
        ):
            self._wake.set()
        if self.tracer is not None and transition.run_status.finished:
            self.tracer.run_finished(transition)
        for listener in self._listeners:
            listener(transition)

    # -- attempts -----------------------------------------------------------------------------
    async def _execute(self, claim: Claim) -> None:
        if claim.child is not None:  # a sub-workflow step: its claim starts a child run, invokes nothing
            await self._start_child(claim)
            return
        # Each attempt is its own task: these bindings (and the span made current) stay in it.
        logs.bind(run_id=claim.run_id, step=claim.step, attempt=claim.number, trace_id=claim.trace_id)
        started = time.perf_counter()
        span = self.tracer.start_attempt(claim) if self.tracer is not None else None
        try:
            outcome = await self._attempt(claim)
        finally:
            self._inflight.pop(claim.attempt_id, None)
            if len(self._inflight) == self.settings.capacity - 1:
                self._wake.set()  # room again: ready steps left unclaimed at capacity need not wait a poll
        try:
            transition = await self.store.complete(
                claim.run_id, claim.step, claim.attempt_id, outcome, self.clock.now().timestamp(), self.worker()
            )
        except ControlPlaneError:
            log.exception("could not record attempt %s; its lease will expire and it will be retried", claim.attempt_id)
            self._ended(claim, span, None, started)
            return
        except BaseException:
            self._ended(claim, span, None, started)
            raise
        # Ended once recorded, before the transition is applied: the run span it may end is its parent.
        self._ended(claim, span, outcome, started)
        if self.live is not None:
            self.live.finished(claim)
        if transition.duplicate and transition.run_status is RunStatus.CANCELLED and outcome.logs:
            await self._keep_logs(claim, outcome.logs)  # what a cancelled attempt printed is kept
        self.apply(transition)
        if claim.throttled:
            self._wake.set()  # a slot of its action is free: the poll dispatches the next throttled step

    async def _start_child(self, claim: Claim) -> None:
        try:
            if self.children is not None:
                await self.children.start(claim)
            else:
                refused = not_started(str(claim.child and claim.child.get("workflow")), "this control plane runs none")
                now = self.clock.now().timestamp()
                done = await self.store.complete(
                    claim.run_id, claim.step, claim.attempt_id, refused, now, self.worker()
                )
                self.apply(done)
        except Exception:  # an outage, or a bug: never a lost task; the claim's lease expires and it is retried
            log.exception(
                "could not start the child run of %s; its lease will expire and it is retried", claim.attempt_id
            )
        finally:
            self._inflight.pop(claim.attempt_id, None)

    async def _keep_logs(self, claim: Claim, logs: str) -> None:
        try:
            await self.store.keep_logs(claim.attempt_id, logs)
        except ControlPlaneError:
            log.warning("could not keep the output of cancelled attempt %s", claim.attempt_id, exc_info=True)

    def _left(self, run_id: str, _task: asyncio.Task[None]) -> None:
        """An attempt's task ended: its transition was applied (or could not be recorded)."""
        left = self._runs_here[run_id] - 1
        if left:
            self._runs_here[run_id] = left
        else:
            del self._runs_here[run_id]

    def _ended(self, claim: Claim, span: object | None, outcome: Outcome | None, started: float) -> None:
        if span is not None and self.tracer is not None:
            self.tracer.end_attempt(span, outcome)
        for listener in self._attempt_listeners:
            listener(claim, outcome, time.perf_counter() - started)

    async def _attempt(self, claim: Claim) -> Outcome:
        try:
            await self.functions.ensure(claim.project, claim.action, claim.version)
            return await self._invoke(claim)
        except FunctionUnavailable as exc:
            return Outcome.lost(str(exc))
        except (BuildFailed, DeployFailed, InvalidRequest) as exc:
            # Final: an action that cannot be built or imported fails the same way on every attempt.
            error = {
                "type": str(exc.fields.get("error_type") or type(exc).__name__),
                "message": str(exc),
                "code": None,
                "retryable": False,
                "traceback": exc.fields.get("traceback"),
                "logs": str(exc.fields.get("logs", ""))[-4000:],
            }
            return Outcome.failed(error)
        except Exception as exc:  # an unexpected failure here must not lose the attempt
            log.exception("attempt %s failed in the control plane", claim.attempt_id)
            return Outcome.failed(
                {"type": type(exc).__name__, "message": str(exc), "code": None, "retryable": True, "traceback": None}
            )

    async def _invoke(self, claim: Claim) -> Outcome:
        if self.tracer is None:
            traceparent = f"00-{claim.trace_id}-{new_span_id()}-01" if claim.trace_id else None
            return outcome_of(await self._send(claim, traceparent))
        with self.tracer.invoke(claim) as span:
            reply = await self._send(claim, span.traceparent)
            span.reply(reply)
        return outcome_of(reply)

    async def _send(self, claim: Claim, traceparent: str | None) -> HttpReply:
        data: wire.InvokeData = {"inputs": claim.inputs, "deadline": rfc3339(claim.deadline)}
        if self.files is not None:
            data = await self.files.invoke_data(claim, data)
        replies = self.replies if self.replies is not None and self.replies.wanted(claim) else None
        if replies is not None:
            data["reply"] = replies.address(claim)
        if self.live is not None:
            data["live"] = self.live.address(claim)
        headers, body = encode_invoke(claim.run_id, claim.step, claim.number, data, traceparent)
        timeout = max(0.1, claim.deadline - self.clock.now().timestamp()) + self.settings.invoke_grace
        function = self.functions.name(claim.project, claim.action)
        reply = await self.backend.invoke(function, claim.version, HttpRequest(headers, body), timeout)
        if replies is not None and reply.status == 202:
            return await self._await_callback(replies, claim)
        return reply if self.files is None else await self.files.settle(claim, reply)

    async def _await_callback(self, replies: Replies, claim: Claim) -> HttpReply:
        # Whichever replica receives the callback settles and records it (service/replies.py); the outcome
        # comes back here already recorded, and _execute's complete() of it is a no-op replay. Out of
        # _inflight while it waits: the heartbeat's short renewals would undo the lease Replies holds to
        # the deadline, and a wait holds no connection and no slot of this replica.
        self._inflight.pop(claim.attempt_id, None)
        return CheckedReply(202, {}, b"", await replies.wait(claim))
