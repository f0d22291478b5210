"""Prometheus metrics of one control-plane replica, served at ``/metrics`` in the text format.

Counters move on the orchestrator's transitions (``on_transition``) and recorded attempts
(``on_attempt``); gauges and the function backend's numbers are read when Prometheus scrapes. Every
metric lives in this object's own registry (nothing global), so two apps in one process do not mix.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..domain import events as ev
from ..domain.model import Outcome
from ..domain.records import Claim, Transition
from ..ports import CatalogueStore, FunctionBackend, FunctionStatus, RunReads
from ..service.orchestrator import Orchestrator


class MetricsStore(RunReads, CatalogueStore, Protocol):
    """What the metrics read: runs, and the actions whose functions are counted."""


log = logging.getLogger("knflow.metrics")

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_RUN_ENDS: Final = {ev.RUN_SUCCEEDED: "succeeded", ev.RUN_FAILED: "failed", ev.RUN_CANCELLED: "cancelled"}
_STEP_ENDS: Final = {ev.STEP_SUCCEEDED: "succeeded", ev.STEP_FAILED: "failed", ev.STEP_RETRYING: "retrying"}
_KEEP_RUNS: Final = 10_000
#: Step attempts last from milliseconds (a no-op action, warm) to minutes (a cold build).
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf"))
#: The local backend's ``stats()`` keys exposed as counters, with their metric names and help.
_BACKEND_COUNTERS: Final = {
    "cold_starts": ("knflow_function_cold_starts", "Function instances started (cold starts)."),
    "cold_starts_forked": ("knflow_function_cold_starts_forked", "Cold starts served by the fork server."),
    "cold_start_failures": ("knflow_function_cold_start_failures", "Function instances that failed to start."),
    "cold_start_seconds_total": ("knflow_function_cold_start_seconds", "Seconds spent in cold starts."),
    "instances_lost": ("knflow_function_instances_lost", "Function instances that died while in use."),
}

BackendStats = Callable[[], dict[str, float]]


class EventStats(Protocol):
    """The trigger consumer's numbers (service.trigger_consumer.TriggerConsumer)."""

    handled: int
    rejected: int
    duplicates: int

    def lag(self) -> dict[tuple[str, int], int]:
        """Consumer lag by (topic, partition)."""
        ...


class RelayStats(Protocol):
    """What published lifecycle events (service.outbox_relay.OutboxRelay, service.lifecycle_publisher)."""

    published: int


class Metrics:
    """The replica's metrics.

    Args:
        orchestrator: listened to for runs, steps and attempts; read for in-flight attempts and leases.
        store: where the workflow of a run started elsewhere, and the action versions, are read.
        backend: asked for each deployed function's instances at scrape time.
        project: the project whose actions are listed.
        backend_stats: the backend's counters (cold starts...), when it keeps any (the local backend).
    """

    def __init__(
        self,
        orchestrator: Orchestrator,
        store: MetricsStore,
        backend: FunctionBackend,
        project: str,
        backend_stats: BackendStats | None = None,
        *,
        events: EventStats | None = None,
        relay: RelayStats | None = None,
    ):
        self.orchestrator = orchestrator
        self.store = store
        self.backend = backend
        self.project = project
        self.backend_stats = backend_stats
        self.events = events
        self.relay = relay
        self.registry = CollectorRegistry()
        self.runs_started = Counter("knflow_runs_started", "Runs started.", ["workflow"], registry=self.registry)
        self.runs_finished = Counter(
            "knflow_runs_finished", "Runs finished, by outcome.", ["workflow", "outcome"], registry=self.registry
        )
        self.steps = Counter(
            "knflow_steps",
            "Step outcomes (succeeded, failed, retrying).",
            ["workflow", "step", "outcome"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "knflow_step_attempt_duration_seconds",
            "Time from claiming a step attempt to recording its outcome (build, cold start and invoke included).",
            ["workflow", "step", "outcome"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        #: the deployed functions' statuses, as read at the last scrape
        self.functions: list[FunctionStatus] = []
        self.registry.register(_ScrapeTime(self))
        self._workflows: OrderedDict[str, str] = OrderedDict()
        self._lookups: dict[str, list[Callable[[str], None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Labelled children by label values: prometheus_client's labels() locks and validates on every
        # call (~5% of the event loop's CPU per step); the set is as bounded as the metric's own.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        orchestrator.on_transition(self.on_transition)
        orchestrator.on_attempt(self.on_attempt)

    # -- listeners ----------------------------------------------------------------------------
    def on_transition(self, transition: Transition) -> None:
        """Count the runs and steps that started or ended in ``transition``."""
        for event in transition.events:
            if event.type == ev.RUN_STARTED and "workflow" in event.data:
                self._remember(event.run_id, str(event.data["workflow"]))
        for event in transition.events:
            if event.type == ev.RUN_STARTED and not event.data.get("retry"):
                self._with_workflow(event.run_id, self._counting(self.runs_started))
            elif event.type in _RUN_ENDS:
                self._with_workflow(event.run_id, self._counting(self.runs_finished, _RUN_ENDS[event.type]))
            elif event.type in _STEP_ENDS and event.step is not None:
                self._with_workflow(event.run_id, self._counting(self.steps, event.step, _STEP_ENDS[event.type]))

    def on_attempt(self, claim: Claim, outcome: Outcome | None, seconds: float) -> None:
        """Observe one attempt's latency, labelled with its outcome (``unrecorded`` when it was not)."""
        status = outcome.status.value if outcome is not None else "unrecorded"
        step = claim.step
        if "[" in step:  # an item of a map step (``step[index]``): counted as its step, the labels stay bounded
            step = step.partition("[")[0]
        self._with_workflow(claim.run_id, lambda w: self._child(self.attempt_seconds, w, step, status).observe(seconds))

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label values."""
        key = (id(metric), labels)  # the metrics live as long as this object
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _counting(self, counter: Counter, *labels: str) -> Callable[[str], None]:
        """A function counting one on ``counter`` for a workflow, with ``labels`` after the workflow's."""

        def count(workflow: str) -> None:
            self._child(counter, workflow, *labels).inc()

        return count

    # -- the workflow of a run ----------------------------------------------------------------
    def _remember(self, run_id: str, workflow: str) -> None:
        self._workflows[run_id] = workflow
        self._workflows.move_to_end(run_id)
        while len(self._workflows) > _KEEP_RUNS:
            self._workflows.popitem(last=False)

    def _with_workflow(self, run_id: str, then: Callable[[str], None]) -> None:
        """Call ``then(workflow)`` now if the run's workflow is known, else once it is read from the store."""
        known = self._workflows.get(run_id)
        if known is not None:
            then(known)
            return
        waiting = self._lookups.get(run_id)
        if waiting is not None:
            waiting.append(then)
            return
        self._lookups[run_id] = [then]
        task = asyncio.get_running_loop().create_task(self._look_up(run_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_up(self, run_id: str) -> None:
        workflow = "unknown"
        try:
            view = await self.store.get_run(run_id)
            if view is not None:
                workflow = view.workflow
        except Exception:  # a metric is not worth an error in the orchestrator
            log.warning("could not read the workflow of run %s for metrics", run_id, exc_info=True)
        self._remember(run_id, workflow)
        for then in self._lookups.pop(run_id, []):
            then(workflow)

    # -- scraping -----------------------------------------------------------------------------
    async def exposition(self) -> bytes:
        """The metrics in the Prometheus text format (function statuses are read first)."""
        functions: list[FunctionStatus] = []
        try:
            seen: set[tuple[str, str]] = set()
            for row in await self.store.list_actions(self.project):
                key = (str(row.name), str(row.version))
                if key not in seen:
                    seen.add(key)
                    status = await self.backend.status(*key)
                    if status.ready:
                        functions.append(status)
        except Exception:  # the other metrics are still worth serving
            log.warning("could not read function statuses for metrics", exc_info=True)
        self.functions = functions
        return generate_latest(self.registry)


class _ScrapeTime(Collector):
    """The metrics read when scraped: in-flight attempts, lease expirations, functions, cold starts."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        """Yield the current values."""
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        orchestrator = self.metrics.orchestrator
        yield GaugeMetricFamily(
            "knflow_attempts_in_flight",
            "Step attempts claimed by this replica and not recorded yet (its share of the queue).",
            value=orchestrator.inflight,
        )
        yield CounterMetricFamily(
            "knflow_lease_expirations",
            "Attempts recorded as lost by this replica because their worker's lease expired.",
            value=orchestrator.lease_expirations,
        )
        instances = GaugeMetricFamily(
            "knflow_function_instances", "Running instances of each deployed function.", labels=["action", "version"]
        )
        for status in self.metrics.functions:
            instances.add_metric([status.action, status.version], status.instances)
        yield instances
        yield from self._eventing()
        stats = self.metrics.backend_stats() if self.metrics.backend_stats is not None else {}
        for key, (name, help_text) in _BACKEND_COUNTERS.items():
            if key in stats:
                yield CounterMetricFamily(name, help_text, value=stats[key])
        if "fork_servers" in stats:
            yield GaugeMetricFamily(
                "knflow_fork_servers",
                "Fork servers (zygotes) running: one per interpreter in use.",
                stats["fork_servers"],
            )

    def _eventing(self) -> Iterator[Metric]:
        events, relay = self.metrics.events, self.metrics.relay
        if events is not None:
            handled = CounterMetricFamily(
                "knflow_trigger_events",
                "Trigger events consumed by this replica, by outcome: handled (their runs started or found), "
                "rejected (could not start a run), duplicate (a run an event had already started: redeliveries).",
                labels=["outcome"],
            )
            handled.add_metric(["handled"], events.handled)
            handled.add_metric(["duplicate"], events.duplicates)
            handled.add_metric(["rejected"], events.rejected)
            yield handled
            lag = GaugeMetricFamily(
                "knflow_kafka_consumer_lag",
                "Events in a trigger topic's partition not yet handed to this replica's consumer.",
                labels=["topic", "partition"],
            )
            for (topic, partition), behind in sorted(events.lag().items()):
                lag.add_metric([topic, str(partition)], behind)
            yield lag
        if relay is not None:
            yield CounterMetricFamily(
                "knflow_lifecycle_events_published",
                "Run and step lifecycle events this replica published to knflow.runs.",
                value=relay.published,
            )
