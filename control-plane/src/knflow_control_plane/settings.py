"""The control plane's settings: environment variables ``KNFLOW_*`` (and an optional ``.env`` file)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the control plane reads from its environment, with the embedded defaults.

    Attributes:
        state_dir: where embedded state lives (``.knflow``): database, builds, function logs, objects.
        database_url: ``sqlite:///.knflow/knflow.db`` (embedded) or ``postgresql://...``.
        database_pool_size: Postgres connections one replica keeps open, and so transactions it runs at
            once (the rest wait in order: ``adapters/sqlalchemy/admission.py``). 10 suits a Postgres on the same
            host; a remote one, whose round trips take longer, may want more.
        starts_at_once: run starts one replica has in progress at once; the rest of a burst waits at
            the door, holding nothing (see ``Workflows.start``).
        event_bus: ``memory`` or ``kafka``.
        kafka_bootstrap: Kafka bootstrap servers when ``event_bus`` is ``kafka``.
        kafka_partitions: partitions of the topics knflow creates.
        kafka_session_timeout_ms: how long Kafka waits for a silent consumer before giving its
            partitions to another replica.
        consumer_group: the consumer group every replica of one installation joins on trigger topics.
        lifecycle_events: write run and step lifecycle events to the outbox and relay them to ``knflow.runs``.
        trigger_concurrency: trigger events one replica handles at once.
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
        max_body_bytes: largest request body accepted (upload routes: ``max_file_bytes``).
        max_spec_steps: most steps a workflow spec may have (more: 422 naming ``steps``).
        max_spec_bytes: largest workflow spec, as YAML or JSON text (more: 413 naming ``spec``).
        project: the control plane's default project (it serves every project; this one is the bootstrap
            key's, the one a request that names none acts in, and the one that cannot be deleted).
        auth: require ``Authorization: Bearer <API key>`` on the API and the hooks.
        bootstrap_key: a key always accepted when ``auth`` is on (to create the first stored keys).
        secrets_key: the Fernet key secrets are encrypted with at rest (``Fernet.generate_key()``; every
            replica needs the same); unset: generated into ``{state_dir}/secrets-key``.
        key_rate_limit: requests per second one API key may make on one replica (unset: no limit).
        hook_rate_limit: requests per second one HTTP trigger path takes on one replica (unset: no limit).
        kube_url: the Kubernetes API server (knative backend, kaniko builder); unset: in-cluster config.
        kube_token_file: a bearer token file for ``kube_url`` (re-read: tokens rotate).
        kube_ca_file: the CA bundle of ``kube_url``'s certificate.
        functions_namespace: where Knative Services and Kaniko Jobs of actions live.
        knative_visibility: ``public`` or ``cluster-local`` (no route from outside the cluster).
        knative_invoke: invoke ``status.url`` (``url``) or ``status.address.url`` (``address``).
        knative_gateway: send invocations to this ingress address (``http://host:port``) with the
            Service URL's host as ``Host`` (a control plane outside the cluster, whose DNS does not name
            the Services); None: to the URL itself.
        knative_min_scale: instances each function keeps when idle (0: scale to zero).
        knative_scale_metric: ``concurrency`` or ``rps``.
        knative_scale_down_delay: ``autoscaling.knative.dev/scale-down-delay`` (``"30s"``).
        knative_scale_to_zero_retention: ``autoscaling.knative.dev/scale-to-zero-pod-retention-period``.
        knative_max_request_seconds: the cluster's max-revision-timeout-seconds (caps ``timeoutSeconds``).
        knative_ready_timeout: seconds a deploy waits for a Service to become Ready.
        knative_service_account: the ServiceAccount functions run as.
        knative_image_pull_secret: a secret to pull function images with.
        registry: where the kaniko builder pushes action images (``host[:port]/path``).
        runtime_image: the function-runtime base image every action image starts FROM.
        kaniko_image: the Kaniko executor image (a maintained fork, pinned).
        kaniko_cache_repo: Kaniko's layer cache repository (default ``{registry}/cache``).
        kaniko_registry_secret: a ``kubernetes.io/dockerconfigjson`` secret with push credentials.
        kaniko_s3_secret: a secret with ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` for reading contexts.
        kaniko_s3_endpoint: the S3 endpoint as seen from build pods (MinIO's in-cluster address).
        kaniko_insecure_registry: push and pull over plain HTTP (an in-cluster development registry).
        kaniko_timeout: seconds a build may run.
        s3_endpoint: an S3-compatible endpoint (MinIO) for an ``s3://`` object store; unset for AWS.
        s3_region: the bucket's region.
        s3_access_key: S3 access key id; unset uses botocore's chain (env, profile, IRSA).
        s3_secret_key: S3 secret access key.
        s3_create_bucket: create a missing bucket (development overlays and tests).
        object_url_ttl: lifetime in seconds of presigned URLs (at least an attempt's timeout).
        object_url_secret: HMAC secret of the local store's signed URLs; generated into
            ``{state_dir}/url-secret`` when unset (every replica must share it).
        max_file_bytes: largest file a function or an upload may store.
        payload_threshold: step outputs and logs (and run inputs) larger than this, in bytes of JSON,
            are kept in the object store and referenced from the run record.
        file_retention_days: delete run files older than this many days (None: keep them).
        upload_slots: spare upload URLs per attempt, for new files that are not a whole output.
        reply_mode_after_seconds: invoke attempts with more time than this before their deadline in
            async reply mode (the function answers 202 and calls back); unset: the backend's request
            limit (``knative_max_request_seconds`` on Knative, none locally).
        gc_interval_seconds: how often the functions of action versions nothing uses any more are
            deleted (backends that support it: knative); 0 turns the periodic sweep off.
    """

    model_config = SettingsConfigDict(env_prefix="KNFLOW_", env_file=".env", extra="ignore")

    state_dir: Path = Path(".knflow")
    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)
    starts_at_once: int = Field(default=64, ge=1)
    event_bus: str = "memory"
    kafka_bootstrap: str | None = None
    kafka_partitions: int = 6
    kafka_session_timeout_ms: int = 10_000
    consumer_group: str = "knflow-control-plane"
    lifecycle_events: bool = True
    trigger_concurrency: int = 64
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
    max_spec_steps: int = Field(default=10_000, ge=1)
    max_spec_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    project: str = "default"
    auth: bool = False
    bootstrap_key: str | None = None
    secrets_key: str | None = None
    key_rate_limit: float | None = Field(default=None, gt=0)
    hook_rate_limit: float | None = Field(default=None, gt=0)
    kube_url: str | None = None
    kube_token_file: Path | None = None
    kube_ca_file: Path | None = None
    functions_namespace: str = "knflow-functions"
    knative_visibility: Literal["public", "cluster-local"] = "public"
    knative_invoke: Literal["url", "address"] = "url"
    knative_gateway: str | None = None
    knative_min_scale: int = Field(default=0, ge=0)
    knative_scale_metric: Literal["concurrency", "rps"] = "concurrency"
    knative_scale_down_delay: str | None = None
    knative_scale_to_zero_retention: str | None = None
    knative_max_request_seconds: int = Field(default=600, ge=1)
    knative_ready_timeout: float = Field(default=300.0, gt=0)
    knative_service_account: str | None = None
    knative_image_pull_secret: str | None = None
    registry: str = "registry.knflow.svc.cluster.local:5000"
    runtime_image: str = "registry.knflow.svc.cluster.local:5000/knflow-runtime:0.1.0"
    kaniko_image: str = "ghcr.io/osscontainertools/kaniko:v1.28.2"
    kaniko_cache_repo: str | None = None
    kaniko_registry_secret: str | None = None
    kaniko_s3_secret: str | None = None
    kaniko_s3_endpoint: str | None = None
    kaniko_insecure_registry: bool = False
    kaniko_timeout: int = Field(default=1800, ge=60)
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_create_bucket: bool = False
    object_url_ttl: int = Field(default=3600, ge=1)
    object_url_secret: str | None = None
    max_file_bytes: int = Field(default=5 * 1024**3, ge=0)
    payload_threshold: int = Field(default=256 * 1024, ge=1024)
    file_retention_days: float | None = Field(default=None, gt=0)
    upload_slots: int = Field(default=4, ge=0, le=100)
    reply_mode_after_seconds: float | None = Field(default=None, gt=0)
    gc_interval_seconds: float = Field(default=600.0, ge=0)

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        """Every local path made absolute against the working directory of the moment settings are read.

        Paths are handed to processes that run elsewhere (a function runs in its code folder, with
        ``python -P``) and stored in the database (a build's code folder): a relative one would mean
        something else there, or after a restart from another folder.
        """
        self.state_dir = absolute(self.state_dir)
        if self.database_url is not None:
            self.database_url = absolute_sqlite_url(self.database_url)
        if self.object_store is not None and not self.object_store.startswith("s3://"):
            self.object_store = str(absolute(Path(self.object_store)))
        self.kube_token_file = absolute(self.kube_token_file) if self.kube_token_file else None
        self.kube_ca_file = absolute(self.kube_ca_file) if self.kube_ca_file else None
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under the state dir."""
        return self.database_url or f"sqlite:///{self.state_dir / 'knflow.db'}"

    @property
    def resolved_object_store(self) -> str:
        """The object store: ``s3://bucket[/prefix]`` or a folder, defaulting to ``objects`` in the state dir."""
        return self.object_store or str(self.state_dir / "objects")

    @property
    def resolved_public_url(self) -> str:
        """The URL others reach this control plane at."""
        return self.public_url or f"http://{self.host}:{self.port}"


def absolute(path: Path) -> Path:
    """``path`` with ``~`` expanded, made absolute and normalised (``..`` removed; symlinks kept)."""
    return Path(os.path.abspath(path.expanduser()))


def absolute_sqlite_url(url: str) -> str:
    """A SQLite URL whose file path is relative (``sqlite:///.knflow/knflow.db``) made absolute; any
    other URL (Postgres, ``sqlite://`` in memory, an absolute or ``file:`` path) as it is."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite" or not rest or rest.startswith(("/", "file:", ":memory:")):
        return url
    path, query_sep, query = rest.partition("?")
    return f"{scheme}:///{absolute(Path(path))}{query_sep}{query}"


class SettingsError(ValueError):
    """``KNFLOW_*`` variables that do not parse; the message names each one and what is wrong with it."""


def load_settings(**given: Any) -> Settings:
    """:class:`Settings` from the environment (and ``given``), with an error a person can act on.

    Raises:
        SettingsError: naming each variable that is wrong, e.g. ``KNFLOW_WORKER_CAPACITY: Input should
            be a valid integer (got 'abc')``.
    """
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = [
            f"KNFLOW_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']} (got {error['input']!r})"
            for error in exc.errors()
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
