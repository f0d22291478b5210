"""The store-side parts of a replica from its settings: the event bus, the object store, async replies."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from knflow_eventing import EventBus, MemoryBus

from ..adapters.clock import SystemClock
from ..adapters.sqlalchemy.replies import SqlAlchemyReplies
from ..adapters.sqlalchemy.store import SqlAlchemyStore
from ..errors import InvalidRequest
from ..ports import FunctionBackend, RequestLimited
from ..ports.objects import ObjectStore
from ..service.files import RunFiles
from ..service.replies import Replies, ReplySettings
from ..settings import Settings


def event_bus(settings: Settings) -> EventBus:
    """The event bus ``KNFLOW_EVENT_BUS`` names: in-process, or Kafka.

    Raises:
        InvalidRequest: an unknown bus, or Kafka without ``KNFLOW_KAFKA_BOOTSTRAP``.
    """
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
        from ..adapters.objects.s3 import S3ObjectStore

        return S3ObjectStore(
            bucket,
            endpoint_url=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            prefix=prefix.strip("/") + "/" if prefix.strip("/") else "",
            create_bucket=settings.s3_create_bucket,
        )
    from ..adapters.objects.local import LocalObjectStore

    return LocalObjectStore(Path(location), settings.resolved_public_url, url_secret(settings))


def url_secret(settings: Settings) -> bytes:
    """The key object URLs (and trigger keys, live-log and reply addresses) are signed with."""
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


def replies_for(settings: Settings, store: SqlAlchemyStore, backend: FunctionBackend, files: RunFiles) -> Replies:
    """Async reply mode: after ``KNFLOW_REPLY_MODE_AFTER_SECONDS``, else the backend's request limit."""
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
    secret = url_secret(settings)
    return Replies(SqlAlchemyReplies(store.db), store, secret, options, settings.worker_name, SystemClock(), files)
