"""``SqlAlchemyStore``: the run store on SQLite or Postgres, one SQL code path for both."""

from __future__ import annotations

import random
from typing import Any

from ...domain.catalogue import ActionVersion, Deployment, Route, VersionEntry, WorkflowEntry, WorkflowVersion
from ...domain.event_waits import ArrivedEvent
from ...domain.files import FileRecord
from ...domain.map_views import ItemFilter, ItemPage
from ...domain.model import Outcome
from ...domain.records import Claim, DeployedTrigger, NewRun, Page, RunFilter, RunView, Schedule, Transition, Worker
from ...domain.rejections import RejectedEvent
from ...domain.transitions import ApprovalDecided
from . import (
    batches,
    catalog,
    children,
    concurrency,
    creation,
    event_waits,
    files,
    map_reads,
    projects,
    reads,
    recovery,
    rejections,
    throttles,
    triggers,
    waits,
)
from .database import Database
from .run_batches import RunBatches

#: Lanes of completions (``run_batches``): how many batches of completions may run at once (Postgres).
#: Few: under load the event loop is the bottleneck, and a batch's fixed cost (BEGIN, COMMIT, a
#: connection, a greenlet; each round trip a send that wakes Postgres) is shared by more completions
#: the fewer batches run at once. Two keeps one batch's round trips overlapping the next one's Python
#: (the lane counts measured against each other are in docs/performance.md).
LANES = 2


class SqlAlchemyStore:
    """Runs, steps, attempts and the catalogue, in one database.

    Args:
        database: where the tables live (see :class:`Database`).
        outbox: write lifecycle events to the outbox table in each transition's transaction.
        rng: randomness for retry jitter (seed it in tests).
    """

    def __init__(self, database: Database, *, outbox: bool = False, rng: random.Random | None = None):
        self.db = database
        self.outbox = outbox
        self.rng = rng or random.Random()
        # Completions that arrive together share a transaction (``run_batches``): on Postgres those of
        # one run would each wait for the run's lock; on SQLite each would be its own trip to the thread.
        # A run is always in the same lane, so no two batches lock the same run.
        self._batches: RunBatches[batches.Completion, Transition] = RunBatches(self._complete_batch)
        # SQLite: runs' batches queued at the database thread together are recorded as one (``batches.merged``).
        database.merge_queued(batches.complete_batch, batches.merged)
        # Postgres: runs started together (a burst, 1,000 runs at once) are created by one statement a
        # batch; each that cannot be (a root without room...) then takes a transaction of its own.
        self._creations: RunBatches[creation.Creation, Transition | None] = RunBatches(self._create_batch)

    # -- runs ---------------------------------------------------------------------------------
    async def create_run(self, new: NewRun, now: float, worker: Worker | None = None) -> Transition:
        """Create a run (idempotent on its trigger event); claim its first steps for ``worker``."""
        if new.concurrency is not None:  # its key's lock, then started or queued (``concurrency.py``)
            args = (new, now, worker, self.rng, self.outbox)
            return await self.db.run_raw(concurrency.create_keyed, *args, new_run=True)
        if self.db.dialect == "postgresql":  # one statement, no BEGIN/COMMIT, when every root can start
            created = await self._creations.submit("new", creation.Creation(new, now, worker))
            if created is not None:
                return created
        return await self.db.run_raw(creation.create_run, new, now, worker, self.rng, self.outbox, new_run=True)

    async def _create_batch(self, _lane: str, batch: list[creation.Creation]) -> list[Transition | None]:
        args = (batch, self.rng, self.outbox)
        return await self.db.run_raw(creation.create_many, *args, new_run=True, transaction=False)

    async def complete(
        self, run_id: str, step: str, attempt_id: str, outcome: Outcome, now: float, worker: Worker | None = None
    ) -> Transition:
        """Record an attempt's outcome at most once; claim what it made ready for ``worker``."""
        completion = batches.Completion(run_id, step, attempt_id, outcome, now, worker)
        return await self._batches.submit(self._lane(run_id), completion)

    def _lane(self, run_id: str) -> str:
        # SQLite: a lane per run (a batch of many runs formed here would wait for the one before it;
        # the thread merges the runs' batches that queue for it anyway). Postgres: LANES lanes.
        return str(hash(run_id) % LANES) if self.db.dialect == "postgresql" else run_id

    async def _complete_batch(self, _lane: str, batch: list[batches.Completion]) -> list[Transition]:
        return await batches.record(self.db, batch, self.rng, self.outbox)

    async def claim_ready(self, now: float, worker: Worker) -> list[Transition]:
        """Claim ready steps across runs."""
        return await self.db.run_raw(recovery.claim_ready, now, worker, self.rng, self.outbox)

    async def admit_waiting(self, now: float, worker: Worker) -> list[Transition]:
        """Start queued runs whose key has room (the poll's catch-up: see ``service/admission.py``)."""
        keys = await self.db.read_raw(concurrency.waiting_keys)
        if not keys:  # the common case: one indexed read of the (empty) queued rows, no transaction
            return []
        return await self.db.run_raw(concurrency.admit_waiting, keys, now, worker, self.rng, self.outbox)

    async def dispatch_throttled(self, now: float, worker: Worker) -> list[Transition]:
        """Start steps held by their action's ``max_concurrency`` that have room (``service/throttles.py``)."""
        actions = await self.db.read_raw(throttles.throttled_actions)
        if not actions:  # the common case: one indexed read of the (empty) throttled rows, no transaction
            return []
        return await self.db.run_raw(throttles.dispatch_throttled, actions, now, worker, self.rng, self.outbox)

    async def expire_leases(self, now: float, worker: Worker) -> list[Transition]:
        """Record attempts whose lease expired as lost."""
        return await self.db.run(recovery.expire_leases, now, worker, self.rng, self.outbox)

    async def expire_runs(self, now: float) -> list[Transition]:
        """Fail runs past their timeout."""
        return await self.db.run(recovery.expire_runs, now, self.rng, self.outbox)

    async def cancel_run(self, run_id: str, now: float, project: str) -> Transition | None:
        """Cancel a run; None if ``project`` has no such run."""
        return await self.db.run(recovery.cancel_run, run_id, now, project, self.outbox)

    async def decide(self, run_id: str, project: str, decision: ApprovalDecided, now: float) -> Transition | None:
        """Approve or reject a waiting approval; None if ``project`` has no such run (see :func:`waits.decide`)."""
        return await self.db.run(waits.decide, run_id, project, decision, now, self.outbox)

    async def fire_timers(self, now: float) -> list[Transition]:
        """End the waiting steps whose deadline passed."""
        return await self.db.run(waits.fire_timers, now, self.rng, self.outbox)

    async def start_child(self, claim: Claim, new: NewRun, now: float, worker: Worker) -> Transition | None:
        """Start the child run of a sub-workflow step's claim (see :func:`children.start_child`)."""
        return await self.db.run(children.start_child, claim, new, now, worker, self.rng, self.outbox)

    async def run_depth(self, run_id: str, limit: int) -> int:
        """How many parent runs ``run_id`` has, up to ``limit``."""
        return await self.db.run(children.depth, run_id, limit)

    async def settle_child(self, child_run_id: str, now: float, worker: Worker | None = None) -> Transition | None:
        """Record an ended child run as its parent step's outcome (see :func:`children.settle_child`)."""
        return await self.db.run(children.settle_child, child_run_id, now, worker, self.rng, self.outbox)

    async def settle_children(self, now: float, worker: Worker | None = None) -> list[Transition]:
        """Record every ended child run whose parent step still waits for it."""
        ended = await self.db.read_raw(children.ended_children)
        if not ended:  # the common case: one read of an index holding running sub-workflow steps only
            return []
        return await self.db.run(children.settle_children, ended, now, worker, self.rng, self.outbox)

    async def orphan_children(self) -> list[tuple[str, str]]:
        """(run, project) of the running child runs whose parent step no longer runs them."""
        return await self.db.read_raw(children.orphans)

    async def running_children(self, run_id: str) -> list[str]:
        """The running child runs of ``run_id``."""
        return await self.db.run(children.running_children, run_id)

    async def resume_waits(self, event: ArrivedEvent, now: float) -> list[Transition]:
        """Resume every step waiting for ``event``: a transition per step (see :func:`event_waits.resume`)."""
        return await self.db.run(event_waits.resume, event, now, self.rng, self.outbox)

    async def keep_logs(self, attempt_id: str, logs: str) -> None:
        """Keep the output of an attempt abandoned by its run's cancellation (a no-op for any other)."""
        await self.db.run(recovery.keep_logs, attempt_id, logs)

    async def retry_run(self, run_id: str, now: float, project: str, step: str | None = None) -> Transition | None:
        """Retry a finished run from its unfinished steps (and ``step`` with its downstream); None if
        ``project`` has no such run."""
        return await self.db.run(recovery.retry_run, run_id, now, project, self.outbox, step)

    async def renew_leases(self, worker: str, keys: list[tuple[str, str]], until: float) -> int:
        """Extend leases a worker holds."""
        return await self.db.run(recovery.renew_leases, worker, keys, until)

    async def next_due(self) -> float | None:
        """When the next ready step or lease expiry is due."""
        return await self.db.read_raw(recovery.next_due)

    async def get_run(self, run_id: str, project: str | None = None) -> RunView | None:
        """A run with its steps and attempts."""
        return await self.db.run(reads.get_run, run_id, project)

    async def list_items(self, where: ItemFilter) -> ItemPage | None:
        """A page of a map step's items; None if the project has no such run (see :func:`map_reads.item_page`)."""
        return await self.db.run(map_reads.item_page, where)

    async def run_status(self, run_id: str) -> tuple[str, Any, Any] | None:
        """(status, result, error) of a run."""
        return await self.db.read_raw(reads.run_status, run_id)

    async def in_project(self, run_ids: list[str], project: str) -> set[str]:
        """The runs of ``run_ids`` that belong to ``project``."""
        return set(await self.db.read_raw(reads.in_project, run_ids, project)) if run_ids else set()

    async def finished_among(self, run_ids: list[str]) -> set[str]:
        """The runs of ``run_ids`` that have finished."""
        return set(await self.db.read_raw(reads.finished_among, run_ids)) if run_ids else set()

    # -- files --------------------------------------------------------------------------------
    async def record_files(self, records: list[FileRecord]) -> None:
        """Store file records with their lineage (replacing records of the same keys)."""
        await self.db.run(files.record_files, records)

    async def list_files(self, run_id: str, project: str) -> list[FileRecord]:
        """The files of a run, oldest first."""
        return await self.db.run(files.list_files, run_id, project)

    async def get_file(self, key: str, project: str) -> FileRecord | None:
        """The record of one file, if there is one."""
        return await self.db.run(files.get_file, key, project)

    async def files_created_before(self, project: str, before: float, limit: int) -> list[FileRecord]:
        """Files still kept that were recorded before ``before`` (for the retention policy), oldest first."""
        return await self.db.run(files.files_created_before, project, before, limit)

    async def mark_files_expired(self, keys: list[str], now: float) -> None:
        """Note that the retention policy deleted the content of ``keys``."""
        await self.db.run(files.mark_expired, keys, now)

    async def list_runs(self, where: RunFilter) -> Page:
        """A page of runs."""
        return await self.db.run(reads.list_runs, where)

    async def probe(self, project: str) -> None:
        """Raise :class:`StoreUnavailable` unless the store can take a write now (readiness)."""
        await self.db.run(reads.probe_writable, project)

    # -- catalogue ----------------------------------------------------------------------------
    async def ensure_project(self, project: str, now: float) -> None:
        """Create the project unless it exists."""
        await self.db.run(catalog.ensure_project, project, now)

    async def create_project(self, project: str, now: float) -> bool:
        """Create a project; False when it exists."""
        return await self.db.run(projects.create_project, project, now)

    async def list_projects(self, only: str | None = None) -> list[dict[str, Any]]:
        """Every project (or only one), with its count of workflows and its deployed ones."""
        return await self.db.run(projects.list_projects, only)

    async def delete_project(self, project: str) -> bool:
        """Delete a project and every record of it; False when there was none."""
        return await self.db.run(projects.delete_project, project)

    async def put_action_version(
        self, project: str, spec: dict[str, Any], code: bytes | None, code_digest: str | None, now: float
    ) -> bool:
        """Store an action version; True if new."""
        return await self.db.run(catalog.put_action_version, project, spec, code, code_digest, now)

    async def get_action_version(self, project: str, name: str, version: str | None = None) -> ActionVersion | None:
        """An action version with its code and build."""
        return await self.db.run(catalog.get_action_version, project, name, version)

    async def set_build(
        self, project: str, name: str, version: str, status: str, logs: str, artifact: dict[str, Any] | None, now: float
    ) -> None:
        """Record a build outcome."""
        await self.db.run(catalog.set_build, project, name, version, status, logs, artifact, now)

    async def list_actions(self, project: str) -> list[ActionVersion]:
        """Action versions of a project."""
        return await self.db.run(catalog.list_actions, project)

    async def delete_action(self, project: str, name: str) -> int:
        """Delete an action's versions."""
        return await self.db.run(catalog.delete_action, project, name)

    async def put_workflow(self, project: str, spec: dict[str, Any], version: str, now: float) -> bool:
        """Store a workflow version as the latest; True if new."""
        return await self.db.run(catalog.put_workflow, project, spec, version, now)

    async def get_workflow(self, project: str, name: str, version: str | None = None) -> WorkflowVersion | None:
        """A workflow version."""
        return await self.db.run(catalog.get_workflow, project, name, version)

    async def list_workflows(self, project: str) -> list[WorkflowEntry]:
        """Workflows with their deployments."""
        return await self.db.run(catalog.list_workflows, project)

    async def workflow_history(self, project: str, name: str) -> list[VersionEntry]:
        """Versions of a workflow."""
        return await self.db.run(catalog.workflow_history, project, name)

    async def delete_workflow(self, project: str, name: str) -> bool:
        """Delete a workflow's definition."""
        return await self.db.run(catalog.delete_workflow, project, name)

    async def set_deployment(
        self,
        project: str,
        workflow: str,
        version: str,
        status: str,
        error: str | None,
        now: float,
        source: str | None = None,
    ) -> None:
        """Record a deployment's state."""
        await self.db.run(catalog.set_deployment, project, workflow, version, status, error, now, source)

    async def get_deployment(self, project: str, workflow: str) -> Deployment | None:
        """A workflow's deployment."""
        return await self.db.run(catalog.get_deployment, project, workflow)

    async def replace_routes(
        self, project: str, workflow: str, version: str, triggers: list[dict[str, Any]]
    ) -> list[str]:
        """Set a workflow's HTTP routes; returns clashes."""
        return await self.db.run(catalog.replace_routes, project, workflow, version, triggers)

    async def delete_routes(self, project: str, workflow: str) -> None:
        """Remove a workflow's routes."""
        await self.db.run(catalog.delete_routes, project, workflow)

    async def find_route(self, project: str | None, method: str, path: str) -> Route | None:
        """The route for an HTTP trigger request."""
        return await self.db.run(catalog.find_route, project, method, path)

    async def routes_for_path(self, project: str | None, path: str) -> list[str]:
        """Methods served at a path."""
        return await self.db.run(catalog.routes_for_path, project, path)

    # -- triggers and lifecycle events ---------------------------------------------------------
    async def replace_triggers(
        self,
        project: str,
        workflow: str,
        version: str,
        events: list[dict[str, Any]],
        crons: list[dict[str, Any]],
        now: float,
    ) -> None:
        """Set a deployed workflow's event and schedule triggers (schedules that stay keep their cursor)."""
        await self.db.run(triggers.replace_triggers, project, workflow, version, events, crons, now)

    async def delete_triggers(self, project: str, workflow: str) -> None:
        """Remove a workflow's event and schedule triggers."""
        await self.db.run(triggers.delete_triggers, project, workflow)

    async def list_event_triggers(self, project: str | None) -> list[DeployedTrigger]:
        """Event triggers of deployed workflows."""
        return await self.db.run(triggers.list_event_triggers, project)

    async def triggers_generation(self) -> int:
        """How many changes of the triggers have committed (compared, not counted: it only grows)."""
        return await self.db.run_raw(triggers.triggers_generation)

    async def list_schedules(self, project: str | None) -> list[Schedule]:
        """Schedules of deployed workflows, with their cursors."""
        return await self.db.run(triggers.list_schedules, project)

    async def advance_schedule(self, project: str, workflow: str, position: int, tick: float) -> None:
        """Move a schedule's cursor forward."""
        await self.db.run(triggers.advance_schedule, project, workflow, position, tick)

    async def take_outbox(self, limit: int) -> list[dict[str, Any]]:
        """The oldest unpublished lifecycle events."""
        return await self.db.run_raw(triggers.take_outbox, limit)

    async def mark_published(self, ids: list[int], now: float) -> None:
        """Record that outbox events reached the bus."""
        await self.db.run_raw(triggers.mark_published, ids, now)

    async def prune_outbox(self, published_before: float) -> int:
        """Delete lifecycle events published before ``published_before``."""
        return await self.db.run(triggers.prune_outbox, published_before)

    async def record_rejected(self, rejected: list[RejectedEvent]) -> None:
        """Store trigger events that started no run (a redelivered one is recorded once)."""
        await self.db.run(rejections.record_rejected, rejected)

    async def list_rejected(
        self, project: str, *, workflow: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[RejectedEvent]:
        """Rejected trigger events of a project, newest first."""
        return await self.db.run(rejections.list_rejected, project, workflow, limit, before)

    async def acquire_lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take or renew a named lease; False while another holder has it."""
        return await self.db.run(triggers.acquire_lease, name, holder, now, ttl)

    async def release_lease(self, name: str, holder: str) -> None:
        """Give a named lease up."""
        await self.db.run(triggers.release_lease, name, holder)

    async def close(self) -> None:
        """Close the database connections."""
        await self.db.dispose()
