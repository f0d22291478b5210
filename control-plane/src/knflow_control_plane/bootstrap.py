"""Wiring: settings in, a running control plane out. Nothing here runs at import time."""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .adapters.clock import SystemClock
from .adapters.sqlalchemy_database import Database
from .adapters.sqlalchemy_migrations import migrate
from .adapters.sqlalchemy_store import SqlAlchemyStore
from .errors import InvalidRequest
from .objects import ObjectStore
from .observability.metrics import BackendStats, Metrics
from .ports import Builder, FunctionBackend
from .service.api_keys import ApiKeys
from .service.functions import Functions
from .service.orchestrator import Orchestrator, OrchestratorSettings
from .service.scheduler import Scheduler
from .service.workflows import Workflows
from .settings import Settings

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
    api_keys: ApiKeys
    metrics: Metrics
    scheduler: Scheduler
    tracing: Tracing | None = None
    #: where ``File`` values, uploads, offloaded payloads and build contexts live
    objects: ObjectStore = field(kw_only=True)

    async def start(self) -> None:
        """Migrate the database, then start the orchestrator."""
        if self.tracing is not None:
            self.tracing.instrument_engine(self.store.db.sync_engine)
        await migrate(self.store.db)
        await self.store.ensure_project(self.settings.project, time.time())
        await self.orchestrator.start()
        await self.scheduler.start()

    async def stop(self) -> None:
        """Stop the orchestrator, the functions and the database connections."""
        await self.scheduler.stop()
        await self.orchestrator.stop()
        await self.backend.close()
        await self.objects.close()
        await self.store.close()


def _backend(settings: Settings) -> tuple[FunctionBackend, BackendStats | None]:
    if settings.backend == "local":
        from .adapters.local import LocalBackend

        local = LocalBackend(settings.state_dir / "functions", idle_timeout=settings.idle_timeout)
        return local, local.stats
    raise InvalidRequest(f"unknown backend {settings.backend!r} (expected 'local')", field="KNFLOW_BACKEND")


def _builder(settings: Settings) -> Builder:
    if settings.builder == "venv":
        from .adapters.venv import VenvBuilder

        return VenvBuilder(settings.state_dir / "builds")
    raise InvalidRequest(f"unknown builder {settings.builder!r} (expected 'venv')", field="KNFLOW_BUILDER")


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
        from .adapters.s3 import S3ObjectStore

        return S3ObjectStore(
            bucket,
            endpoint_url=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            prefix=prefix.strip("/") + "/" if prefix.strip("/") else "",
            create_bucket=settings.s3_create_bucket,
        )
    from .adapters.objects_local import LocalObjectStore

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
    store = SqlAlchemyStore(Database(settings.resolved_database_url))
    objects = object_store(settings)
    backend, backend_stats = _backend(settings)
    functions = Functions(store, _builder(settings), backend, settings.project)
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
    )
    workflows = Workflows(store, functions, backend, orchestrator, settings.project)
    api_keys = ApiKeys(store, settings.project, settings.bootstrap_key)
    metrics = Metrics(orchestrator, store, backend, settings.project, backend_stats)
    scheduler = Scheduler(store, workflows, SystemClock(), settings.project)
    return ControlPlane(
        settings,
        store,
        backend,
        functions,
        orchestrator,
        workflows,
        api_keys,
        metrics,
        scheduler,
        tracing,
        objects=objects,
    )
