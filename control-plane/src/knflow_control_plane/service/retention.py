"""File retention: delete the content of run files older than N days; their records say they expired.

Runs themselves are never deleted implicitly (DESIGN.md section 1), and neither are offloaded payloads
(part of the run record): only files (step outputs and uploads) go. Their lineage records stay, with
``expired_at`` set, so ``/v1/runs/{id}/files`` and a step that needs one of them say what happened.
One replica sweeps at a time (a named lease in the run store); a sweep that dies halfway is simply
done again: deleting an object and marking a record are both idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..errors import ControlPlaneError
from ..ports import FileRecords, Leases, ProjectAdmin
from ..ports.objects import ObjectStore
from .background import Background


class RetentionStore(FileRecords, Leases, ProjectAdmin, Protocol):
    """What the retention policy needs: the projects, their old file records, and the lease of the one
    replica that deletes."""


log = logging.getLogger("knflow.retention")
LEASE = "file-retention"
DAY = 86400.0


class Retention:
    """Deletes run files older than ``days`` days, every ``interval`` seconds.

    Args:
        objects: where the files are.
        store: where their records are.
        project: whose files.
        days: the age past which a file goes.
        holder: this replica's name on the sweep lease.
        interval: seconds between sweeps (default: a quarter of the retention period, at most an hour).
        batch: files handled per store round trip.
        clock: the current Unix time.
    """

    def __init__(
        self,
        objects: ObjectStore,
        store: RetentionStore,
        project: str,
        days: float,
        holder: str,
        *,
        interval: float | None = None,
        batch: int = 500,
        clock: Callable[[], float] = time.time,
    ):
        self.objects = objects
        self.store = store
        self.project = project
        self.max_age = days * DAY
        self.holder = holder
        self.interval = interval if interval is not None else min(3600.0, self.max_age / 4)
        self.batch = batch
        self._clock = clock
        self._background = Background("knflow-file-retention")

    async def sweep(self) -> int:
        """Delete every file past its age now; how many went."""
        now = self._clock()
        removed = 0
        for project in [row["name"] for row in await self.store.list_projects()]:  # every project's files
            while records := await self.store.files_created_before(project, now - self.max_age, self.batch):
                await asyncio.gather(*(self.objects.delete(record.key) for record in records))
                await self.store.mark_files_expired([record.key for record in records], self._clock())
                removed += len(records)
        return removed

    async def start(self) -> None:
        """Sweep in the background until :meth:`stop`."""
        self._background.start(self._loop())

    async def stop(self) -> None:
        """Stop sweeping (a sweep in progress is abandoned; the next one finishes it)."""
        await self._background.stop()

    async def _loop(self) -> None:
        while True:
            try:
                ttl = max(30.0, self.interval * 2)
                if await self.store.acquire_lease(LEASE, self.holder, self._clock(), ttl):
                    removed = await self.sweep()
                    if removed:
                        log.info("file retention deleted %d files older than %.6g days", removed, self.max_age / DAY)
            except ControlPlaneError:
                log.exception("file retention sweep failed; trying again later")
            await asyncio.sleep(self.interval)
