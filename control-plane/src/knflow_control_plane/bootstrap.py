"""Wiring: settings in, a running control plane out. Nothing here runs at import time."""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from knflow_eventing import EventBus, MemoryBus

from .access import Access, build_access
from .adapters.clock import SystemClock
from .adapters.sqlalchemy.database import Database
from .adapters.sqlalchemy.migrations import migrate
from .adapters.sqlalchemy.replies import SqlAlchemyReplies
from .adapters.sqlalchemy.store import SqlAlchemyStore
from .errors import InvalidRequest
from .gc_tuning import tune_gc
from .observability.metrics import BackendStats, Metrics
from .ports import Builder, FunctionBackend, GarbageCollecting, RequestLimited, SecretValues, SourceRunner
from .ports.objects import ObjectStore
from .service.catalogue import Catalogue
from .service.files import FileSettings, RunFiles
from .service.functions import Functions
from .service.garbage import FunctionGarbage
from .service.lifecycle_publisher import LifecyclePublisher
from .service.live_logs import LiveLogs
from .service.orchestrator import Orchestrator, OrchestratorSettings
from .service.outbox_relay import OutboxRelay
from .service.projects import Projects
from .service.replies import Replies, ReplySettings
from .service.retention import Retention
from .service.run_feed import RunFeed
from .service.runs import Runs
from .service.scheduler import Scheduler
from .service.secrets import Secrets
from .service.sources import Sources
from .service.trigger_consumer import TriggerConsumer
from .service.trigger_intake import TriggerIntake
from .service.workflows import Workflows
from .settings import Settings

if TYPE_CHECKING:
    from .adapters.knative.kubernetes import KubeClient
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


def _backend(settings: Settings, secrets: Secrets) -> tuple[FunctionBackend, BackendStats | None]:
    if settings.backend == "local":
        from .adapters.local.backend import LocalBackend

        local = LocalBackend(settings.state_dir / "functions", idle_timeout=settings.idle_timeout)
        local.use_secrets(secrets.values)
        return local, local.stats
    if settings.backend == "knative":
        from .adapters.knative.backend import KnativeBackend
        from .adapters.knative.manifests import KnativeOptions

        options = KnativeOptions(
            namespace=settings.functions_namespace,
            cluster_local=settings.knative_visibility == "cluster-local",
            min_scale=settings.knative_min_scale,
            scale_metric=settings.knative_scale_metric,
            scale_down_delay=settings.knative_scale_down_delay,
            scale_to_zero_retention=settings.knative_scale_to_zero_retention,
            max_request_seconds=settings.knative_max_request_seconds,
            service_account=settings.knative_service_account,
            image_pull_secrets=(settings.knative_image_pull_secret,) if settings.knative_image_pull_secret else (),
            secrets_name=f"knflow-secrets-{settings.project}",
        )
        from .adapters.knative.secrets import KubeSecretMirror

        invoke_address = settings.knative_invoke == "address"
        kube = _kube(settings)
        knative = KnativeBackend(
            kube,
            options,
            invoke_address=invoke_address,
            ready_timeout=settings.knative_ready_timeout,
            gateway=settings.knative_gateway,
        )
        # PUT/DELETE /v1/secrets write the functions' Secret; a deploy copies the action's secrets again.
        secrets.mirror = KubeSecretMirror(kube, options.namespace, options.secrets_name)
        knative.use_secrets(secrets.sync)
        return knative, None
    raise InvalidRequest(
        f"unknown backend {settings.backend!r} (expected 'local' or 'knative')", field="KNFLOW_BACKEND"
    )


def _source_runner(settings: Settings, secrets: SecretValues) -> SourceRunner:
    """Where custom triggers run: local processes, or Knative ContainerSources."""
    if settings.backend == "knative":
        from .adapters.knative.sources import KnativeSources

        return KnativeSources(_kube(settings), settings.functions_namespace)
    from .adapters.local.sources import LocalSources

    local = LocalSources(settings.state_dir / "triggers")
    local.secret_values = secrets
    return local


def _bus(settings: Settings) -> EventBus:
    if settings.event_bus == "memory":
        return MemoryBus(partitions=settings.kafka_partitions)
    if settings.event_bus == "kafka":
        if not settings.kafka_bootstrap:
            message = "KNFLOW_KAFKA_BOOTSTRAP is required with the kafka bus"
            raise InvalidRequest(message, field="KNFLOW_KAFKA_BOOTSTRAP")
        from knflow_eventing.kafka import KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap,
            partitions=settings.kafka_partitions,
            client_id=settings.worker_name,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, settings.kafka_session_timeout_ms // 10),
        )
    raise InvalidRequest(
        f"unknown event bus {settings.event_bus!r} (expected 'memory' or 'kafka')", field="KNFLOW_EVENT_BUS"
    )


def _kube(settings: Settings) -> KubeClient:
    from .adapters.knative.kubernetes import KubeClient, KubeConfig

    if not settings.kube_url:
        return KubeClient(KubeConfig.in_cluster())
    config = KubeConfig(url=settings.kube_url, token_file=settings.kube_token_file, ca_file=settings.kube_ca_file)
    return KubeClient(config)


def _builder(settings: Settings, objects: ObjectStore) -> Builder:
    if settings.builder == "venv":
        from .adapters.local.venv import VenvBuilder

        return VenvBuilder(settings.state_dir / "builds")
    if settings.builder == "kaniko":
        from .adapters.knative.kaniko import KanikoBuilder
        from .adapters.knative.kaniko_manifests import KanikoOptions

        location = settings.resolved_object_store
        if not location.startswith("s3://"):
            message = "the kaniko builder reads build contexts from S3: set KNFLOW_OBJECT_STORE=s3://bucket[/prefix]"
            raise InvalidRequest(message, field="KNFLOW_OBJECT_STORE")
        options = KanikoOptions(
            namespace=settings.functions_namespace,
            image=settings.kaniko_image,
            registry=settings.registry,
            base_image=settings.runtime_image,
            cache_repo=settings.kaniko_cache_repo,
            registry_secret=settings.kaniko_registry_secret,
            s3_secret=settings.kaniko_s3_secret,
            s3_endpoint=settings.kaniko_s3_endpoint or settings.s3_endpoint,
            s3_region=settings.s3_region,
            insecure_registry=settings.kaniko_insecure_registry,
            timeout=settings.kaniko_timeout,
        )
        return KanikoBuilder(_kube(settings), objects, location, options)
    raise InvalidRequest(f"unknown builder {settings.builder!r} (expected 'venv' or 'kaniko')", field="KNFLOW_BUILDER")


def object_store(settings: Settings) -> ObjectStore:
    """The object store ``KNFLOW_OBJECT_STORE`` names: ``s3://bucket[/prefix]`` or a local folder.

    Raises:
        InvalidRequest: an ``s3://`` URL without a bucket.
    """
    location = settings.resolved_object_store
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise InvalidRequest(f"{location!r} names no bucket", field="KNFLOW_OBJECT_STORE")
        from .adapters.objects.s3 import S3ObjectStore

        return S3ObjectStore(
            bucket,
            endpoint_url=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            prefix=prefix.strip("/") + "/" if prefix.strip("/") else "",
            create_bucket=settings.s3_create_bucket,
        )
    from .adapters.objects.local import LocalObjectStore

    return LocalObjectStore(Path(location), settings.resolved_public_url, _url_secret(settings))


def _url_secret(settings: Settings) -> bytes:
    if settings.object_url_secret:
        return settings.object_url_secret.encode()
    # Generated once and kept: URLs handed out must stay valid across restarts.
    path = settings.state_dir / "url-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), path.open("x") as out:
            path.chmod(0o600)
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def build(settings: Settings, tracing: Tracing | None = None) -> ControlPlane:
    """A control plane for ``settings`` (not started yet).

    Args:
        settings: the configuration.
        tracing: the OpenTelemetry tracing to feed (``observability.start_tracing``); None when off.
    """
    bus = _bus(settings)
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
    access = build_access(settings, store.db, _url_secret(settings))  # trigger keys signed like object URLs
    backend, backend_stats = _backend(settings, access.secrets)
    functions = Functions(store, _builder(settings, objects), backend, settings.project)
    replies = _replies(settings, store, backend, files)
    live = LiveLogs(settings.resolved_public_url, _url_secret(settings))
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
        garbage=garbage,
        starts_at_once=settings.starts_at_once,
    )
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
        _source_runner(settings, access.secrets.values),
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


def _replies(settings: Settings, store: SqlAlchemyStore, backend: FunctionBackend, files: RunFiles) -> Replies:
    after = settings.reply_mode_after_seconds
    if after is None and isinstance(backend, RequestLimited):
        after = backend.request_limit
    options = ReplySettings(
        base_url=settings.resolved_public_url,
        after=after,
        lease=settings.lease_seconds,
        interval=settings.poll_interval,
    )
    # The object URL secret, under another domain: every replica must share it either way.
    secret = _url_secret(settings)
    return Replies(SqlAlchemyReplies(store.db), store, secret, options, settings.worker_name, SystemClock(), files)
