"""Threads that run sync actions, each call in a copy of the caller's context.

Not ``ThreadPoolExecutor``: handing a call over through a ``queue.SimpleQueue`` (C, one lock) and back
with ``call_soon_threadsafe`` costs about a quarter less per call on the slow machines functions run on
(see the README's numbers), and daemon threads let the process exit after a drain even while a thread
that outlived its deadline is still stuck in user code (a thread cannot be killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

_Call = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], contextvars.Context, Callable[..., Any], dict[str, Any]]


class Workers:
    """Up to ``size`` daemon threads, started as calls need them.

    Used from the event loop's thread only. The caller bounds the calls in progress (the invoker's
    semaphore), so a call never waits for a thread.

    Args:
        size: threads at most.
        name: prefix of the threads' names.
    """

    def __init__(self, size: int, name: str = "knflow-action"):
        self.size, self.name = size, name
        self.busy = 0
        self._threads: list[threading.Thread] = []
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        """Run ``fn(**kwargs)`` in a thread, in a copy of the current context; the future has its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.busy += 1
        future.add_done_callback(self._finished)
        if self.busy > len(self._threads) and len(self._threads) < self.size:
            thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._calls.put((loop, future, contextvars.copy_context(), fn, kwargs))
        return future

    def close(self) -> None:
        """Let idle threads end; busy ones end when their call returns."""
        for _ in self._threads:
            self._calls.put(None)
        self._threads.clear()

    def _finished(self, _: asyncio.Future[Any]) -> None:
        self.busy -= 1

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, context, fn, kwargs = call
            try:
                outcome: tuple[bool, Any] = (True, context.run(fn, **kwargs))
            except BaseException as exc:  # noqa: BLE001  (handed to the awaiting coroutine, like a Future does)
                outcome = (False, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed while the call ran (a drain gave up on it)
                loop.call_soon_threadsafe(_settle, future, outcome)
            del call, future, outcome  # do not keep the last result alive while waiting


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
