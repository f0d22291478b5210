"""Back-pressure in front of the Postgres pool: transactions wait here, in order, not in the pool.

The pool hands out ``capacity`` connections and fails a checkout that waited longer than its timeout.
A burst of 10,000 run starts (one trigger storm, one ``asyncio.gather``) queued there would fail its
tail with ``TimeoutError`` once the burst takes longer than the timeout, and would hold back the runs
already going: a step's completion would queue behind every new run.

So at most ``capacity`` transactions hold or wait for a connection at once; the rest wait here, with
no timeout, in two lanes served in order: the transitions of runs already going first, then new runs.
A finishing run is never stuck behind a storm of new ones, and a storm is admitted as fast as the
store takes it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class Admission:
    """At most ``capacity`` holders at once; waiters are admitted in order, urgent ones first.

    Args:
        capacity: how many may hold a slot at once (the pool's connections).
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.holding = 0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._later: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """How many wait for a slot."""
        return len(self._urgent) + len(self._later)

    def slot(self, *, urgent: bool = True) -> _Slot:
        """Hold a slot for an ``async with`` block; ``urgent=False`` waits behind every urgent waiter."""
        return _Slot(self, urgent)

    async def _acquire(self, urgent: bool) -> None:
        if self.holding < self.capacity and not self.waiting:
            self.holding += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._later).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot in the same tick it was cancelled: pass it on
            else:
                (self._urgent if urgent else self._later).remove(waiter)
            raise

    def _release(self) -> None:
        # The slot passes straight to the next waiter, so a newcomer cannot overtake the queue.
        for lane in (self._urgent, self._later):
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.holding -= 1


class _Slot:
    # A plain class, not ``@asynccontextmanager``: 10,000 starts of a burst each hold one while they
    # wait, and a generator-based one costs more memory apiece (tracemalloc, docs/performance.md).
    __slots__ = ("_admission", "_urgent")

    def __init__(self, admission: Admission, urgent: bool):
        self._admission = admission
        self._urgent = urgent

    async def __aenter__(self) -> None:
        await self._admission._acquire(self._urgent)

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._admission._release()
