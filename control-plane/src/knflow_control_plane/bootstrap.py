"""Wiring: settings in, a running control plane out. Nothing here runs at import time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from knflow_eventing import EventBus, MemoryBus

from .access import Access, build_access
from .adapters.clock import SystemClock
from .adapters.sqlalchemy.database import Database
from .adapters.sqlalchemy.migrations import migrate
from .adapters.sqlalchemy.store import SqlAlchemyStore
from .gc_tuning import tune_gc
from .observability.metrics import Metrics
from .ports import FunctionBackend, GarbageCollecting
from .ports.objects import ObjectStore
from .service.catalogue import Catalogue
from .service.children import ChildRuns
from .service.event_waits import EventWaits
from .service.files import FileSettings, RunFiles
from .service.functions import Functions
from .service.garbage import FunctionGarbage
from .service.lifecycle_publisher import LifecyclePublisher
from .service.live_logs import LiveLogs
from .service.orchestrator import Orchestrator, OrchestratorSettings
from .service.outbox_relay import OutboxRelay
from .service.projects import Projects
from .service.replies import Replies
from .service.retention import Retention
from .service.run_feed import RunFeed
from .service.runs import Runs
from .service.scheduler import Scheduler
from .service.sources import Sources
from .service.trigger_consumer import TriggerConsumer
from .service.trigger_intake import TriggerIntake
from .service.workflows import Workflows
from .settings import Settings
from .wiring.backends import function_backend, function_builder, source_runner
from .wiring.infrastructure import event_bus, object_store, replies_for, url_secret

if TYPE_CHECKING:
    from .observability._otel import Tracing


@dataclass
class ControlPlane:
    """The wired parts of one control-plane replica."""

    settings: Settings
    store: SqlAlchemyStore
    backend: FunctionBackend
    functions: Functions
    orchestrator: Orchestrator
    workflows: Workflows
    access: Access
    metrics: Metrics
    scheduler: Scheduler
    bus: EventBus
    intake: TriggerIntake
    consumer: TriggerConsumer
    relay: OutboxRelay | None
    tracing: Tracing | None = None
    #: runs the deployed custom triggers (``@trigger``); None when the backend cannot
    sources: Sources | None = field(default=None, kw_only=True)
    #: where ``File`` values, uploads, offloaded payloads and build contexts live
    objects: ObjectStore = field(kw_only=True)
    #: the files of runs: URLs for invocations, lineage, links, offloaded payloads
    files: RunFiles = field(kw_only=True)
    #: deletes run files past ``KNFLOW_FILE_RETENTION_DAYS`` (None: files are kept)
    retention: Retention | None = field(default=None, kw_only=True)
    #: async reply mode: callback addresses, waits, and the callbacks' recording
    replies: Replies = field(kw_only=True)
    #: output of running attempts, for ``logs --follow`` (None: functions send none)
    live: LiveLogs | None = field(default=None, kw_only=True)
    #: deletes functions nothing uses (backends that can); None when the backend cannot
    garbage: FunctionGarbage | None = field(default=None, kw_only=True)
    #: publishes lifecycle events straight onto an in-process bus (None: the outbox relay does, or off)
    lifecycle: LifecyclePublisher | None = field(default=None, kw_only=True)
    #: this replica's run and step changes, for ``GET /v1/stream`` (the web UI's live updates)
    feed: RunFeed = field(default_factory=RunFeed, kw_only=True)
    #: the API's reads and user actions on runs
    runs: Runs = field(kw_only=True)
    #: the API's reads and deletes in the catalogue
    catalogue: Catalogue = field(kw_only=True)
    #: the projects this plane serves (``/v1/projects``)
    projects: Projects = field(kw_only=True)

    async def start(self) -> None:
        """Migrate the database, then start the orchestrator."""
        tune_gc()
        if self.tracing is not None:
            self.tracing.instrument_engine(self.store.db.sync_engine)
        await migrate(self.store.db)
        await self.store.ensure_project(self.settings.project, time.time())
        await self.orchestrator.start()
        await self.replies.start()
        if self.garbage is not None:
            await self.garbage.start()
        if self.retention is not None:
            await self.retention.start()
        await self.scheduler.start()
        await self.consumer.start()
        if self.relay is not None:
            await self.relay.start()
        if self.sources is not None:
            await self.sources.start()

    async def stop(self) -> None:
        """Stop the orchestrator, the functions and the database connections."""
        self.feed.close()  # open streams end now, not when their clients leave
        if self.sources is not None:
            await self.sources.stop()
        await self.consumer.stop()
        await self.scheduler.stop()
        if self.garbage is not None:
            await self.garbage.stop()
        await self.replies.stop()  # first: waits end at once, their attempts stay held in the store
        await self.orchestrator.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.lifecycle is not None:
            await self.lifecycle.stop()
        await self.bus.close()
        await self.backend.close()
        if self.retention is not None:
            await self.retention.stop()
        await self.objects.close()
        await self.store.close()


#: Attempts in flight below which a SQLite transition runs in the event loop instead of the database
#: thread: a chain or a lone trigger (faster per step, docs/performance.md); under load the thread.
INLINE_BELOW_INFLIGHT = 4


def build(settings: Settings, tracing: Tracing | None = None) -> ControlPlane:
    """A control plane for ``settings`` (not started yet).

    Args:
        settings: the configuration.
        tracing: the OpenTelemetry tracing to feed (``observability.start_tracing``); None when off.
    """
    bus = event_bus(settings)
    # A durable bus gets lifecycle events through the transactional outbox; an in-process one straight
    # after each commit (service/lifecycle_publisher.py: the outbox would buy nothing there).
    direct = bus if settings.lifecycle_events and isinstance(bus, MemoryBus) else None
    outbox = settings.lifecycle_events and direct is None
    store = SqlAlchemyStore(
        Database(settings.resolved_database_url, pool_size=settings.database_pool_size), outbox=outbox
    )
    if tracing is not None:
        tracing.messaging_system = settings.event_bus
    objects = object_store(settings)
    days = settings.file_retention_days
    retention = Retention(objects, store, settings.project, days, settings.worker_name) if days else None
    files = RunFiles(
        objects,
        store,
        FileSettings(
            project=settings.project,
            url_ttl=settings.object_url_ttl,
            max_file_bytes=settings.max_file_bytes,
            upload_slots=settings.upload_slots,
            payload_threshold=settings.payload_threshold,
        ),
    )
    access = build_access(settings, store.db, url_secret(settings))  # trigger keys signed like object URLs
    backend, backend_stats = function_backend(settings, access.secrets)
    functions = Functions(store, function_builder(settings, objects), backend, settings.project)
    replies = replies_for(settings, store, backend, files)
    live = LiveLogs(settings.resolved_public_url, url_secret(settings))
    orchestrator = Orchestrator(
        store,
        functions,
        backend,
        SystemClock(),
        OrchestratorSettings(
            worker=settings.worker_name,
            lease=settings.lease_seconds,
            capacity=settings.worker_capacity,
            poll_interval=settings.poll_interval,
        ),
        tracer=tracing.run_spans(store) if tracing is not None else None,
        files=files,
        replies=replies,
    )
    orchestrator.live = live
    garbage = None
    if isinstance(backend, GarbageCollecting):
        interval = settings.gc_interval_seconds
        garbage = FunctionGarbage(store, backend, settings.project, settings.worker_name, interval)
    workflows = Workflows(
        store,
        functions,
        backend,
        orchestrator,
        settings.project,
        custom_triggers=settings.backend in ("local", "knative"),
        payloads=files.payloads,
        files=store,
        garbage=garbage,
        starts_at_once=settings.starts_at_once,
    )
    orchestrator.children = ChildRuns(store, workflows, orchestrator, SystemClock())
    orchestrator.on_transition(orchestrator.children.on_transition)
    metrics = Metrics(orchestrator, store, backend, settings.project, backend_stats)
    scheduler = Scheduler(store, workflows, SystemClock(), settings.project)
    consumer = TriggerConsumer(
        bus,
        store,
        workflows,
        settings.project,
        group=settings.consumer_group,
        concurrency=settings.trigger_concurrency,
        tracing=tracing,
        waits=EventWaits(store, orchestrator),
    )
    # The in-process bus dies with the process: an event is accepted once handled, not once on the bus.
    handled = consumer.handled_events if settings.event_bus == "memory" else None
    intake = TriggerIntake(bus, workflows, tracing, matcher=consumer.matches, handled=handled)
    # SQLite: a transition runs in the event loop while this replica is nearly idle (latency), in the
    # database thread once attempts pile up (throughput: overlap and shared commits). See sqlite_thread.
    store.db.run_inline_when(lambda: orchestrator.inflight < INLINE_BELOW_INFLIGHT)
    relay = OutboxRelay(store, bus, settings.worker_name) if outbox else None
    if relay is not None:
        orchestrator.on_transition(lambda transition: relay.wake() if transition.events else None)
    publisher = LifecyclePublisher(direct) if direct is not None else None
    if publisher is not None:
        orchestrator.on_transition(publisher.on_transition)
    metrics.events, metrics.relay = consumer, relay or publisher
    feed = RunFeed()
    orchestrator.on_transition(feed.on_transition)
    sources = Sources(
        store,
        functions,
        source_runner(settings, access.secrets.values),
        f"{settings.resolved_public_url}/v1/events",
        settings.worker_name,
        settings.project,
        key_for=access.keys.source_key if settings.auth else None,
    )
    projects = Projects(store, access.keys, workflows, settings.project)
    projects.on_undeploy = sources.wake

    return ControlPlane(
        settings,
        store,
        backend,
        functions,
        orchestrator,
        workflows,
        access,
        metrics,
        scheduler,
        bus,
        intake,
        consumer,
        relay,
        tracing,
        objects=objects,
        files=files,
        retention=retention,
        sources=sources,
        replies=replies,
        live=live,
        garbage=garbage,
        lifecycle=publisher,
        feed=feed,
        runs=Runs(store, orchestrator, files, live, settings.project),
        catalogue=Catalogue(store, settings.project),
        projects=projects,
    )
