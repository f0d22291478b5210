"""The background loop of a service (relay, scheduler, retention, custom triggers): one asyncio task,
started once, cancelled and awaited on stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Background:
    """One named long-running task.

    Args:
        name: the task's name (shown by asyncio debugging and in task dumps).
    """

    def __init__(self, name: str):
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background (a second start while it runs is a mistake and is refused)."""
        if self._task is not None and not self._task.done():
            work.close()
            raise RuntimeError(f"{self.name} is running already")
        self._task = asyncio.create_task(work, name=self.name)

    async def stop(self) -> None:
        """Cancel the task and wait until it is gone; a no-op when it does not run."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
