"""What comes in besides runs: CloudEvents, uploaded files, attempts' replies."""

from __future__ import annotations

from typing import Any

from ._base import Reply


class EventsAccepted(Reply):
    """``202`` of ``POST /v1/events``: the events are on the bus."""

    accepted: int
    ids: list[str]


class Uploaded(Reply):
    """Uploaded files' references: ``file`` for a raw body, ``files`` by field for a multipart form.

    A reference (``{"knflow.file": {...}}``) goes into a run's inputs.
    """

    file: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]] | None = None


class FileInfo(Reply):
    """A file of a run, with its lineage and a download link (``url``; none once expired)."""

    key: str
    name: str
    content_type: str
    size: int
    sha256: str | None = None
    run_id: str | None = None
    step: str | None = None
    attempt: int | None = None
    field: str | None = None
    created_at: float
    expired_at: float | None = None
    url: str | None = None


class RunFiles(Reply):
    """A run's files; ``expired`` when retention deleted at least one."""

    run_id: str
    files: list[FileInfo]
    expired: bool


class ReplyRecorded(Reply):
    """An attempt's result received in async reply mode."""

    attempt: str
    status: str


class LiveReceived(Reply):
    """A piece of a running attempt's output received: the characters this replica now holds of it."""

    attempt: str
    size: int


class RejectedEvent(Reply):
    """One trigger event that started no run (of ``workflow``, when it matched one), and why."""

    id: int
    received_at: str
    topic: str
    source: str
    event_id: str
    type: str
    subject: str | None
    workflow: str | None
    reason: str
    field: str | None
    data: str | None


class RejectedEvents(Reply):
    """A page of rejected events, newest first; ``next_cursor`` continues it."""

    rejected_events: list[RejectedEvent]
    next_cursor: str | None
