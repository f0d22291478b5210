"""File records of runs in memory (the :class:`~knflow_control_plane.ports.FileRecords` port)."""

from __future__ import annotations

import dataclasses

from ...domain.files import FileRecord


class MemoryFileRecords:
    """One record per object key, as the ``files`` table keeps them."""

    def __init__(self) -> None:
        self._records: dict[str, FileRecord] = {}

    async def record_files(self, records: list[FileRecord]) -> None:
        """Store ``records``, replacing any record of the same key (a replayed attempt writes the same keys)."""
        for record in records:
            self._records.pop(record.key, None)  # a replaced record goes to the end, as a new row would
            self._records[record.key] = record

    async def list_files(self, run_id: str, project: str) -> list[FileRecord]:
        """The files of a run, oldest first."""
        mine = [r for r in self._records.values() if r.run_id == run_id and r.project == project]
        return sorted(mine, key=lambda r: (r.created_at, r.key))

    async def get_file(self, key: str, project: str) -> FileRecord | None:
        """The record of one file."""
        record = self._records.get(key)
        return record if record is not None and record.project == project else None

    async def files_created_before(self, project: str, before: float, limit: int) -> list[FileRecord]:
        """Files whose content is still kept and that were recorded before ``before``, oldest first."""
        kept = [
            r for r in self._records.values() if r.project == project and r.expired_at is None and r.created_at < before
        ]
        return sorted(kept, key=lambda r: r.created_at)[:limit]

    async def mark_files_expired(self, keys: list[str], now: float) -> None:
        """Note that the content of ``keys`` was deleted by the retention policy."""
        for key in keys:
            if key in self._records:
                self._records[key] = dataclasses.replace(self._records[key], expired_at=now)
