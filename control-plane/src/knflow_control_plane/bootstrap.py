"""Wiring: settings in, a running control plane out. Nothing here runs at import time."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .adapters.clock import SystemClock
from .adapters.sqlalchemy_database import Database
from .adapters.sqlalchemy_migrations import migrate
from .adapters.sqlalchemy_store import SqlAlchemyStore
from .errors import InvalidRequest
from .ports import Builder, FunctionBackend
from .service.api_keys import ApiKeys
from .service.functions import Functions
from .service.orchestrator import Orchestrator, OrchestratorSettings
from .service.workflows import Workflows
from .settings import Settings


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

    async def start(self) -> None:
        """Migrate the database, then start the orchestrator."""
        await migrate(self.store.db)
        await self.store.ensure_project(self.settings.project, time.time())
        await self.orchestrator.start()

    async def stop(self) -> None:
        """Stop the orchestrator, the functions and the database connections."""
        await self.orchestrator.stop()
        await self.backend.close()
        await self.store.close()


def _backend(settings: Settings) -> FunctionBackend:
    if settings.backend == "local":
        from .adapters.local import LocalBackend

        return LocalBackend(settings.state_dir / "functions", idle_timeout=settings.idle_timeout)
    raise InvalidRequest(f"unknown backend {settings.backend!r} (expected 'local')", field="KNFLOW_BACKEND")


def _builder(settings: Settings) -> Builder:
    if settings.builder == "venv":
        from .adapters.venv import VenvBuilder

        return VenvBuilder(settings.state_dir / "builds")
    raise InvalidRequest(f"unknown builder {settings.builder!r} (expected 'venv')", field="KNFLOW_BUILDER")


def build(settings: Settings) -> ControlPlane:
    """A control plane for ``settings`` (not started yet)."""
    store = SqlAlchemyStore(Database(settings.resolved_database_url))
    backend = _backend(settings)
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
    )
    workflows = Workflows(store, functions, backend, orchestrator, settings.project)
    api_keys = ApiKeys(store, settings.project, settings.bootstrap_key)
    return ControlPlane(settings, store, backend, functions, orchestrator, workflows, api_keys)
