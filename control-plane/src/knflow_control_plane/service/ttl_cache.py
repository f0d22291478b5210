"""A small read-through cache whose entries expire after a few seconds (rarely changing records read on
every request: deployments, HTTP routes)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values by key, each kept ``ttl`` seconds after it was read.

    Args:
        ttl: seconds an entry is reused.
        size: entries kept at most (the oldest go first).
        clock: monotonic seconds (injected by tests).
    """

    def __init__(self, ttl: float, size: int = 1024, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value of ``key``: the cached one while fresh, else ``await load()`` (then cached)."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await load()
        if len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        """Forget everything (the records changed here)."""
        self._entries.clear()
