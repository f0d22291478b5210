"""The run store's ports, each sized by its consumer: a service asks for the few calls it makes.

:class:`RunStore` is all of them at once, as ``adapters/sqlalchemy/store.py`` implements them;
``adapters/memory/`` ships an in-memory twin of each (``MemoryStore``: all of them, its transitions
through the same ``apply_facts`` and planner over :class:`RunStates`), and the contract suites
(``tests/integration/contracts/``, ``tests/integration/test_store_contract.py``) run on every
implementation. Each call is one transaction; times are
epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..domain.catalogue import ActionVersion, Deployment, Route, VersionEntry, WorkflowEntry, WorkflowVersion
from ..domain.concurrency import QueuedRun
from ..domain.event_waits import ArrivedEvent
from ..domain.files import FileRecord
from ..domain.map_views import ItemFilter, ItemPage
from ..domain.model import Outcome
from ..domain.records import Claim, DeployedTrigger, NewRun, Page, RunFilter, RunView, Schedule, Transition, Worker
from ..domain.rejections import RejectedEvent
from ..domain.throttles import Throttled
from ..domain.transitions import ApprovalDecided, Context, Fact, Need, Plan, RunState


class RunTransitions(Protocol):
    """The run state machine's transitions, each one transaction (the orchestrator's, and cancel and retry's)."""

    async def create_run(self, new: NewRun, now: float, worker: Worker | None = None) -> Transition: ...
    async def complete(
        self, run_id: str, step: str, attempt_id: str, outcome: Outcome, now: float, worker: Worker | None = None
    ) -> Transition: ...
    async def claim_ready(self, now: float, worker: Worker) -> list[Transition]: ...
    async def expire_leases(self, now: float, worker: Worker) -> list[Transition]: ...
    async def expire_runs(self, now: float) -> list[Transition]: ...
    async def admit_waiting(self, now: float, worker: Worker) -> list[Transition]: ...
    async def dispatch_throttled(self, now: float, worker: Worker) -> list[Transition]: ...
    async def cancel_run(self, run_id: str, now: float, project: str) -> Transition | None: ...
    async def keep_logs(self, attempt_id: str, logs: str) -> None: ...
    async def decide(self, run_id: str, project: str, decision: ApprovalDecided, now: float) -> Transition | None: ...
    async def fire_timers(self, now: float) -> list[Transition]: ...
    async def retry_run(self, run_id: str, now: float, project: str, step: str | None = None) -> Transition | None: ...
    async def renew_leases(self, worker: str, keys: list[tuple[str, str]], until: float) -> int: ...
    async def next_due(self) -> float | None: ...


class ChildRunStore(Protocol):
    """Child runs of sub-workflow steps (``service/children.py``): started with the parent step's record of
    them in one transaction, settled into the parent step once they end, and found when orphaned."""

    async def start_child(self, claim: Claim, new: NewRun, now: float, worker: Worker) -> Transition | None: ...
    async def run_depth(self, run_id: str, limit: int) -> int: ...
    async def settle_child(self, child_run_id: str, now: float, worker: Worker | None = None) -> Transition | None: ...
    async def settle_children(self, now: float, worker: Worker | None = None) -> list[Transition]: ...
    async def orphan_children(self) -> list[tuple[str, str]]: ...
    async def running_children(self, run_id: str) -> list[str]: ...


class EventWaitStore(Protocol):
    """Resuming the steps waiting for an arriving event (``service/event_waits.py``)."""

    async def resume_waits(self, event: ArrivedEvent, now: float) -> list[Transition]: ...


class RunStates(Protocol):
    """What the run state machine needs of storage within one transaction (``domain/planner.py`` decides,
    this loads and writes): the runs locked, the state their facts need, more when the planner asks for
    it (:class:`Need`), and the plans written. ``adapters/sqlalchemy/transitions.py`` implements it on
    SQLite and Postgres, ``adapters/memory/runs.py`` in memory; ``service/state_machine.py``
    ``apply_facts`` drives every transition through it."""

    def lock(self, run_ids: Sequence[str], *, skip_locked: bool) -> list[str]:
        """Lock the runs for this transaction; the ids of those it holds (others' skipped if asked)."""
        ...

    def load_for(self, facts: Mapping[str, Sequence[Fact]], now: float) -> dict[str, RunState]:
        """Each run's state, as much as its facts need (a run that does not exist is left out)."""
        ...

    def load_more(self, state: RunState, need: Need, now: float) -> RunState:
        """``state`` with what the planner asked for loaded too."""
        ...

    def persist(self, plans: Sequence[tuple[Plan, Context]]) -> None:
        """Write the plans (each with the context it was made in)."""
        ...

    def queue_of(self, key: str, bound: int) -> tuple[int, list[QueuedRun]]:
        """Lock the concurrency ``key`` for this transaction; its runs in progress, and the first ``bound``
        runs of its queue in order (priority desc, then arrival)."""
        ...

    def admitted(self, run_ids: Sequence[str], now: float) -> None:
        """Runs that left the queue and started: their timeout counts from ``now``."""
        ...

    def requeue(self, run_ids: Sequence[str], now: float) -> None:
        """Runs that entered their queue again (a retry): they arrive ``now``, behind those waiting."""
        ...

    def throttle_of(self, project: str, action: str, bound: int) -> tuple[int, list[Throttled]]:
        """Lock the action's slots for this transaction; its steps running, and the first ``bound`` throttled
        ones in order (the time they became ready, then run and step)."""
        ...


class RunReads(Protocol):
    """Runs as they are read: one with its steps, pages of them, and what waiters and the stream ask."""

    async def get_run(self, run_id: str, project: str | None = None) -> RunView | None: ...
    async def run_status(self, run_id: str) -> tuple[str, Any, Any] | None: ...
    async def finished_among(self, run_ids: list[str]) -> set[str]: ...
    async def in_project(self, run_ids: list[str], project: str) -> set[str]: ...
    async def list_runs(self, where: RunFilter) -> Page: ...
    async def list_items(self, where: ItemFilter) -> ItemPage | None: ...


class FileRecords(Protocol):
    """The files of runs: their lineage, as recorded when attempts write them, and their expiry."""

    async def record_files(self, records: list[FileRecord]) -> None: ...
    async def list_files(self, run_id: str, project: str) -> list[FileRecord]: ...
    async def get_file(self, key: str, project: str) -> FileRecord | None: ...
    async def files_created_before(self, project: str, before: float, limit: int) -> list[FileRecord]: ...
    async def mark_files_expired(self, keys: list[str], now: float) -> None: ...


class Projects(Protocol):
    """Projects, and whether the store answers at all."""

    async def probe(self, project: str) -> None: ...
    async def ensure_project(self, project: str, now: float) -> None: ...


class ProjectAdmin(Protocol):
    """Projects as the operator manages them: created, listed with what they hold, deleted with it all."""

    async def create_project(self, project: str, now: float) -> bool: ...
    async def list_projects(self, only: str | None = None) -> list[dict[str, Any]]: ...
    async def delete_project(self, project: str) -> bool: ...


class CatalogueStore(Protocol):
    """Actions, workflows, their deployments and HTTP routes."""

    async def put_action_version(
        self, project: str, spec: dict[str, Any], code: bytes | None, code_digest: str | None, now: float
    ) -> bool: ...
    async def get_action_version(self, project: str, name: str, version: str | None = None) -> ActionVersion | None: ...
    async def set_build(
        self, project: str, name: str, version: str, status: str, logs: str, artifact: dict[str, Any] | None, now: float
    ) -> None: ...
    async def list_actions(self, project: str) -> list[ActionVersion]: ...
    async def delete_action(self, project: str, name: str) -> int: ...
    async def put_workflow(self, project: str, spec: dict[str, Any], version: str, now: float) -> bool: ...
    async def get_workflow(self, project: str, name: str, version: str | None = None) -> WorkflowVersion | None: ...
    async def list_workflows(self, project: str) -> list[WorkflowEntry]: ...
    async def workflow_history(self, project: str, name: str) -> list[VersionEntry]: ...
    async def delete_workflow(self, project: str, name: str) -> bool: ...
    async def set_deployment(
        self,
        project: str,
        workflow: str,
        version: str,
        status: str,
        error: str | None,
        now: float,
        source: str | None = None,
    ) -> None: ...
    async def get_deployment(self, project: str, workflow: str) -> Deployment | None: ...
    async def replace_routes(
        self, project: str, workflow: str, version: str, triggers: list[dict[str, Any]]
    ) -> list[str]: ...
    async def delete_routes(self, project: str, workflow: str) -> None: ...
    async def find_route(self, project: str | None, method: str, path: str) -> Route | None: ...
    async def routes_for_path(self, project: str | None, path: str) -> list[str]: ...


class TriggerStore(Protocol):
    """Event triggers and schedules of deployed workflows, and each schedule's cursor; the triggers'
    generation grows with every committed change of them (a deploy, an undeploy, a project deleted)."""

    async def replace_triggers(
        self,
        project: str,
        workflow: str,
        version: str,
        events: list[dict[str, Any]],
        crons: list[dict[str, Any]],
        now: float,
    ) -> None: ...
    async def delete_triggers(self, project: str, workflow: str) -> None: ...
    async def list_schedules(self, project: str | None) -> list[Schedule]: ...
    async def advance_schedule(self, project: str, workflow: str, position: int, tick: float) -> None: ...
    async def list_event_triggers(self, project: str | None) -> list[DeployedTrigger]: ...
    async def triggers_generation(self) -> int: ...


class Outbox(Protocol):
    """Lifecycle events written with the transitions that caused them, for the relay to publish in order."""

    async def take_outbox(self, limit: int) -> list[dict[str, Any]]: ...
    async def mark_published(self, ids: list[int], now: float) -> None: ...
    async def prune_outbox(self, published_before: float) -> int: ...


class RejectedEvents(Protocol):
    """Trigger events that were accepted but started no run, with why."""

    async def record_rejected(self, rejected: list[RejectedEvent]) -> None: ...
    async def list_rejected(
        self, project: str, *, workflow: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[RejectedEvent]: ...


class Leases(Protocol):
    """Named leases: at most one holder at a time (one replica runs the scheduler, say)."""

    async def acquire_lease(self, name: str, holder: str, now: float, ttl: float) -> bool: ...
    async def release_lease(self, name: str, holder: str) -> None: ...


class WorkflowStore(CatalogueStore, TriggerStore, Protocol):
    """What the workflow use cases read and write: the catalogue, and the triggers a deploy enables."""


class RunStarter(Protocol):
    """Where a checked run goes to be created (the orchestrator)."""

    async def submit(self, new: NewRun) -> Transition:
        """Create the run and start what it can."""
        ...


class RunStore(
    RunTransitions,
    ChildRunStore,
    EventWaitStore,
    RunReads,
    FileRecords,
    Projects,
    ProjectAdmin,
    CatalogueStore,
    TriggerStore,
    Outbox,
    RejectedEvents,
    Leases,
    Protocol,
):
    """Every port of the run store at once: what one database holds."""

    async def close(self) -> None: ...
