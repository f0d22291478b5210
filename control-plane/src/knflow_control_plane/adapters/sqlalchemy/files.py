"""Files of runs and their lineage, as SQL. Each public function is one transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.files import FileRecord
from .tables import files

_COLUMNS = (
    "key",
    "project",
    "run_id",
    "step",
    "attempt",
    "field",
    "name",
    "content_type",
    "size",
    "sha256",
    "created_at",
    "expired_at",
)


def record_files(conn: Connection, records: list[FileRecord]) -> None:
    """Store ``records``, replacing any record of the same key (a replayed attempt writes the same keys)."""
    if not records:
        return
    conn.execute(files.delete().where(files.c.key.in_([r.key for r in records])))
    conn.execute(files.insert(), [{name: getattr(r, name) for name in _COLUMNS} for r in records])


def list_files(conn: Connection, run_id: str, project: str) -> list[FileRecord]:
    """The files of a run, oldest first."""
    rows = conn.execute(
        sa.select(files)
        .where(files.c.run_id == run_id, files.c.project == project)
        .order_by(files.c.created_at, files.c.key)
    )
    return [_record(row._mapping) for row in rows]


def get_file(conn: Connection, key: str, project: str) -> FileRecord | None:
    """The record of one file."""
    row = conn.execute(sa.select(files).where(files.c.key == key, files.c.project == project)).first()
    return _record(row._mapping) if row is not None else None


def files_created_before(conn: Connection, project: str, before: float, limit: int) -> list[FileRecord]:
    """Files whose content is still kept and that were recorded before ``before``, oldest first."""
    rows = conn.execute(
        sa.select(files)
        .where(files.c.project == project, files.c.expired_at.is_(None), files.c.created_at < before)
        .order_by(files.c.created_at)
        .limit(limit)
    )
    return [_record(row._mapping) for row in rows]


def mark_expired(conn: Connection, keys: list[str], now: float) -> None:
    """Note that the content of ``keys`` was deleted by the retention policy."""
    if keys:
        conn.execute(files.update().where(files.c.key.in_(keys)).values(expired_at=now))


def _record(row: Any) -> FileRecord:
    return FileRecord(**{name: row[name] for name in _COLUMNS})
