"""Requests waiting for runs to finish (HTTP triggers, ``?wait=``): woken by this replica's transitions,
and, for runs that start or finish on another replica, by one watcher that looks for all of them at once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..domain.events import RUN_CANCELLED, RUN_FAILED, RUN_STARTED, RUN_SUCCEEDED
from ..domain.model import RunStatus
from ..domain.records import Transition
from ..errors import ControlPlaneError, ShuttingDown
from ..ports import RunReads

#: Runs asked about per query of the watcher.
_CHUNK = 500
#: The events that end a run, with its result and error in their data (``end_run``).
_ENDS = frozenset((RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED))

#: A run's (status, result, error).
State = tuple[str, Any, Any]
#: What :meth:`RunWaiters.close` wakes waiters with (compared by identity).
_CLOSED: State = ("closed", None, None)


class RunWaiters:
    """The runs someone waits for, and the futures that wake them.

    Args:
        store: where a run's status is read.
    """

    def __init__(self, store: RunReads):
        self.store = store
        # Set to the run's state when the transition that ended it says it, else to None: look in the store.
        self._waiters: dict[str, list[asyncio.Future[State | None]]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    async def wait(self, run_id: str, timeout: float, *, skip_first_read: bool = False) -> State | None:
        """Wait up to ``timeout`` seconds for a run to finish; its (status, result, error) either way.

        A run that does not exist yet is waited for too: a trigger publishes its event first and the run
        is created when the event is consumed (here or on another replica). None when it never appeared.
        ``skip_first_read``: the caller knows the run is not finished, or that its end will be reported
        here (it just published the run's trigger event, so the run is almost surely not created yet; or
        an attempt of the run started here and its transition is not applied yet). The read would only
        queue on the database (ahead of the very transaction creating the run, in the first case).
        Nothing is missed: a run created or ended here wakes the wait, and one created or ended
        elsewhere is seen by the watcher's next look.

        Raises:
            ShuttingDown: the control plane began to stop (:meth:`close`) before the run finished.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        look = not skip_first_read
        while True:
            if self._closed:
                raise _shutting_down(run_id)
            # Listen before looking: a run created or finished while the store is read still wakes us.
            future: asyncio.Future[State | None] = loop.create_future()
            waiters = self._waiters.setdefault(run_id, [])
            waiters.append(future)
            try:
                state = await self.store.run_status(run_id) if look else None
                look = True
                if state is not None and RunStatus(state[0]).finished:
                    return state
                left = end - loop.time()
                if left <= 0:
                    return state
                # A run finished on another replica wakes nobody here: the watcher looks for all of them.
                self._watch()
                with contextlib.suppress(TimeoutError):
                    ended = await asyncio.wait_for(future, left)
                    if ended is _CLOSED:
                        raise _shutting_down(run_id)
                    if ended is not None:
                        return ended  # the transition that ended it here said how: no read
            finally:
                if future in waiters:
                    waiters.remove(future)
                if not waiters and self._waiters.get(run_id) is waiters:
                    del self._waiters[run_id]

    def notify(self, transition: Transition) -> None:
        """Wake the waiters of a run this replica started or finished."""
        # Waiters are rare (HTTP triggers, ?wait=): look them up before scanning the events.
        if transition.run_id in self._waiters and (
            transition.run_status.finished or any(e.type == RUN_STARTED for e in transition.events)
        ):
            ended = _ended(transition)
            for future in self._waiters.pop(transition.run_id):
                if not future.done():
                    future.set_result(ended)

    def close(self) -> None:
        """The control plane is stopping: every wait ends now, and later ones at once, with ``ShuttingDown``
        (a caller gets its answer, with the run id, instead of a connection cut when the process exits)."""
        self._closed = True
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(_CLOSED)

    async def stop(self) -> None:
        """Stop watching (the waits themselves end with their callers)."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)

    def _watch(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._look_while_waited(), name="knflow-waited-runs")

    async def _look_while_waited(self) -> None:
        """Wake the waiters of runs that finished elsewhere: one query per 500 waited runs per look.

        Looks every 50 ms while few runs are waited on (a trigger consumed on another replica replies
        within one look), less often as they grow (10,000 waiters: every 0.5 s), so the store sees at most
        ~40 such queries a second; a look per waiter was 20,000 reads a second with 10,000 waiting.
        """
        while self._waiters:
            waited = list(self._waiters)
            await asyncio.sleep(min(0.5, max(0.05, len(waited) / 20_000)))
            for start in range(0, len(waited), _CHUNK):
                try:
                    finished = await self.store.finished_among(waited[start : start + _CHUNK])
                except ControlPlaneError:
                    continue  # looked again next time
                for run_id in finished:
                    for future in self._waiters.get(run_id, []):
                        if not future.done():
                            future.set_result(None)


def _shutting_down(run_id: str) -> ShuttingDown:
    message = f"the control plane is shutting down before run {run_id} finished; it goes on when it is started again"
    return ShuttingDown(message, workflow_run_id=run_id)


def _ended(transition: Transition) -> State | None:
    """The run's state when ``transition`` ended it (from its end event), else None."""
    if transition.run_status.finished:
        for event in transition.events:
            if event.type in _ENDS and event.run_id == transition.run_id:
                return transition.run_status.value, event.data.get("result"), event.data.get("error")
    return None
