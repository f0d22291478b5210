"""Rejected trigger events in memory (the :class:`~knflow_control_plane.ports.RejectedEvents` port)."""

from __future__ import annotations

import dataclasses

from ...domain.rejections import RejectedEvent


class MemoryRejectedEvents:
    """Rejections in the order they were recorded, each numbered as the database would."""

    def __init__(self) -> None:
        self._rows: list[RejectedEvent] = []
        self._seen: set[tuple[str, str, str, str]] = set()

    async def record_rejected(self, rejected: list[RejectedEvent]) -> None:
        """Store ``rejected``; one already recorded for the same workflow (a redelivery) is kept as it was."""
        for event in rejected:
            key = (event.project, event.source, event.event_id, event.workflow or "")
            if key in self._seen:
                continue
            self._seen.add(key)
            self._rows.append(dataclasses.replace(event, id=len(self._rows) + 1))

    async def list_rejected(
        self, project: str, *, workflow: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[RejectedEvent]:
        """The project's rejected events, newest first: at most ``limit``, with ids below ``before``."""
        found = [
            r
            for r in reversed(self._rows)
            if r.project == project
            and (workflow is None or r.workflow == workflow)
            and (before is None or (r.id or 0) < before)
        ]
        return found[:limit]
