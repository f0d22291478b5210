"""Rate limits per API key and per hook: token buckets in this replica's memory.

Each bucket holds ``rate`` tokens per second up to a burst of ``max(1, rate)``; a request takes one. A
request that finds its bucket empty is refused (429) with the seconds until a token is back
(``Retry-After``). The limits are per replica: N replicas behind a balancer let through up to N times
``rate``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..errors import RateLimited

_MAX_BUCKETS = 100_000  # buckets of idle keys/hooks are dropped past this many


class Buckets:
    """Token buckets by name.

    Args:
        rate: tokens per second of each bucket; ``None`` or 0 turns the limit off.
        clock: monotonic seconds.
    """

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic):
        self.rate = rate or 0.0
        self.burst = max(1.0, self.rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, when)

    def take(self, name: str, what: str) -> None:
        """Take a token from ``name``'s bucket.

        Raises:
            RateLimited: the bucket is empty; ``retry_after`` is whole seconds until it is not.
        """
        if self.rate <= 0:
            return
        now = self._clock()
        tokens, then = self._buckets.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            wait = max(1, math.ceil((1 - tokens) / self.rate))
            raise RateLimited(f"{what} is over {self.rate:g} requests per second", retry_after=wait)
        if len(self._buckets) >= _MAX_BUCKETS and name not in self._buckets:
            self._buckets.clear()
        self._buckets[name] = (tokens - 1, now)
