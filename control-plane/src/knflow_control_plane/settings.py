"""The control plane's settings: environment variables ``KNFLOW_*`` (and an optional ``.env`` file)."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the control plane reads from its environment, with the embedded defaults.

    Attributes:
        state_dir: where embedded state lives (``.knflow``): database, builds, function logs, objects.
        database_url: ``sqlite:///.knflow/knflow.db`` (embedded) or ``postgresql://...``.
        event_bus: ``memory`` or ``kafka``.
        kafka_bootstrap: Kafka bootstrap servers when ``event_bus`` is ``kafka``.
        object_store: a folder (``local``) or ``s3://bucket``.
        backend: ``local`` or ``knative``.
        builder: ``venv`` or ``kaniko``.
        host: interface to listen on.
        port: port to listen on.
        public_url: how functions and clients reach this control plane (result links, callbacks).
        worker_name: this replica's name on leases.
        lease_seconds: lease length of a claimed attempt.
        worker_capacity: attempts this replica runs at once.
        poll_interval: seconds between looks for work made ready elsewhere.
        idle_timeout: seconds a local function stays warm without invocations.
        max_body_bytes: largest request body accepted.
        project: the project of this control plane's records.
        auth: require ``Authorization: Bearer <API key>`` on the API and the hooks.
        bootstrap_key: a key always accepted when ``auth`` is on (to create the first stored keys).
    """

    model_config = SettingsConfigDict(env_prefix="KNFLOW_", env_file=".env", extra="ignore")

    state_dir: Path = Path(".knflow")
    database_url: str | None = None
    event_bus: str = "memory"
    kafka_bootstrap: str | None = None
    object_store: str | None = None
    backend: str = "local"
    builder: str = "venv"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    worker_name: str = Field(default_factory=lambda: f"{socket.gethostname()}")
    lease_seconds: float = 15.0
    worker_capacity: int = 1000
    poll_interval: float = 1.0
    idle_timeout: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    project: str = "default"
    auth: bool = False
    bootstrap_key: str | None = None

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under the state dir."""
        return self.database_url or f"sqlite:///{self.state_dir / 'knflow.db'}"

    @property
    def resolved_public_url(self) -> str:
        """The URL others reach this control plane at."""
        return self.public_url or f"http://{self.host}:{self.port}"
