"""Transitions that arrive together share one transaction: a fan-in's siblings, or many runs' steps.

Every transition of a run locks the run's row first, so on Postgres the thousand siblings of a fan-out
completing together wait for that lock one after another: a thousand transactions, each a ``BEGIN``, a
lock, its statements and a ``COMMIT`` in a row (on SQLite, a thousand trips to the database thread).
Here they wait in Python instead, in lanes (the store puts each run in one lane): whoever arrives while
a transaction of its lane is under way joins the next one, which takes everything that queued: one
commit for the lot, and one lock per run. Lanes do not wait for each other.

What it bought (``bench/orchestration_bench.py``, a fan-out of 1,000) is in ``docs/performance.md``.

A batch that fails is run again one item at a time, each in its own transaction, so one bad item
cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_LEAD = object()  # handed to the first waiter when the transaction before it ends: it runs the next one


class RunBatches(Generic[Item, Result]):
    """Runs items in lanes, batching those of a lane that queue while its transaction runs.

    Args:
        run_batch: one transaction over a lane's items; a result per item, in order.
    """

    def __init__(self, run_batch: Callable[[str, list[Item]], Awaitable[list[Result]]]):
        self._run_batch = run_batch
        self._queued: dict[str, list[tuple[Item, asyncio.Future[object]]]] = {}

    async def submit(self, key: str, item: Item) -> Result:
        """Run ``item`` in the next transaction of lane ``key``; its result."""
        queue = self._queued.get(key)
        if queue is None:
            self._queued[key] = []  # this call leads: the ones arriving meanwhile queue up
            return await self._lead(key, [(item, None)])
        mine: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        queue.append((item, mine))
        try:
            got = await mine
        except asyncio.CancelledError:
            self._leave(key, mine)
            raise
        if got is not _LEAD:
            return got  # type: ignore[return-value]
        batch: list[tuple[Item, asyncio.Future[object] | None]] = [*self._queued[key]]
        self._queued[key] = []
        return await self._lead(key, batch)

    async def _lead(self, key: str, batch: list[tuple[Item, asyncio.Future[object] | None]]) -> Result:
        """Run ``batch`` (whose first entry is the caller's), hand the others their results, and pass
        the lead to the first one queued meanwhile."""
        try:
            results = await self._results(key, [item for item, _ in batch])
        except BaseException:
            # A lone item failed (it raises to its caller), or the leader was cancelled (the plane stops):
            # any others go back to the head of the queue, unharmed.
            self._queued[key][:0] = [(item, f) for item, f in batch[1:] if f is not None and not f.done()]
            self._pass_lead(key)
            raise
        self._pass_lead(key)
        for (_, waiter), result in zip(batch[1:], results[1:], strict=True):
            if waiter is not None and not waiter.done():
                if isinstance(result, BaseException):
                    waiter.set_exception(result)
                else:
                    waiter.set_result(result)
        mine = results[0]
        if isinstance(mine, BaseException):
            raise mine
        return mine

    async def _results(self, key: str, items: list[Item]) -> list[Result | BaseException]:
        try:
            return [*await self._run_batch(key, items)]
        except Exception:  # whatever it was, each item of a batch is tried again alone
            if len(items) == 1:
                raise  # a lone item's error is its caller's
            # One at a time, so that one bad item fails alone (the batch rolled back as a whole).
            return [await self._alone(key, item) for item in items]

    async def _alone(self, key: str, item: Item) -> Result | BaseException:
        try:
            [result] = await self._run_batch(key, [item])
        except Exception as exc:  # noqa: BLE001 - handed to the item's caller
            return exc
        return result

    def _pass_lead(self, key: str) -> None:
        queue = self._queued.get(key)
        while queue:
            _, waiter = queue[0]
            if not waiter.done():
                waiter.set_result(_LEAD)
                return
            queue.pop(0)
        self._queued.pop(key, None)

    def _leave(self, key: str, waiter: asyncio.Future[object]) -> None:
        """A waiter was cancelled: out of the queue; if it had just been given the lead, pass it on."""
        queue = self._queued.get(key)
        if queue is None:
            return
        led = waiter.done() and not waiter.cancelled() and waiter.result() is _LEAD
        queue[:] = [(item, f) for item, f in queue if f is not waiter]
        if led:
            self._pass_lead(key)
