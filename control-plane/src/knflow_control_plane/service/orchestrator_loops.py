"""The orchestrator's background loops: the poll (expire leases of dead workers and runs past their
deadline, admit queued runs, fire timers, sweep child runs, claim ready and throttled steps) and the
heartbeat that renews the leases of the attempts in flight here.

``Orchestrator`` takes them from ``OrchestratorLoops`` and starts them in ``Orchestrator.start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import TYPE_CHECKING

from ..errors import ControlPlaneError
from ..ports import Clock, RunStore
from .health import Outage

if TYPE_CHECKING:
    from ..domain.records import Claim, Transition, Worker
    from .children import ChildRuns
    from .orchestrator import OrchestratorSettings

# The orchestrator's logger: its outage lines read as they did before the loops had their own module.
log = logging.getLogger("knflow.orchestrator")


class OrchestratorLoops:
    """The poll and the heartbeat of ``Orchestrator`` (one replica's)."""

    # Set by ``Orchestrator.__init__``.
    store: RunStore
    clock: Clock
    settings: OrchestratorSettings
    children: ChildRuns | None
    lease_expirations: int
    _wake: asyncio.Event
    _inflight: dict[str, Claim]

    if TYPE_CHECKING:

        def worker(self) -> Worker: ...

        def apply(self, transition: Transition) -> None: ...

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        woken, last_full = False, -math.inf
        outage = Outage("polling the run store", log, base=min(self.settings.poll_interval, 0.5))
        while True:
            try:
                # A wake-up (room freed, a retry, a run made ready) needs a claim; expiry runs once per interval.
                if woken and loop.time() - last_full < self.settings.poll_interval:
                    await self._claim_ready(self.clock.now().timestamp())
                else:
                    last_full = loop.time()
                    await self._poll_once()
                outage.succeeded()
            except ControlPlaneError as exc:
                # One line when the outage starts, one when it ends; wake-ups wait for the backoff too.
                await asyncio.sleep(outage.failed(exc))
                woken = False
                self._wake.clear()
                continue
            due = await self._safe_next_due()
            now = self.clock.now().timestamp()
            sleep = (
                self.settings.poll_interval if due is None else min(self.settings.poll_interval, max(0.0, due - now))
            )
            if self.worker().capacity == 0:
                sleep = self.settings.poll_interval  # ready steps are due, but the room freed will wake us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)
            woken = self._wake.is_set()
            self._wake.clear()

    async def _safe_next_due(self) -> float | None:
        try:
            return await self.store.next_due()
        except ControlPlaneError:
            return None

    async def _poll_once(self) -> None:
        now = self.clock.now().timestamp()
        expired = await self.store.expire_leases(now, self.worker())
        self.lease_expirations += len(expired)  # one transition per expired attempt
        for transition in expired:
            self.apply(transition)
        for transition in await self.store.expire_runs(now):
            self.apply(transition)
        for transition in await self.store.admit_waiting(now, self.worker()):  # queued runs left with room
            self.apply(transition)
        for transition in await self.store.fire_timers(now):  # waiting steps past their deadline
            self.apply(transition)
        if self.children is not None:
            await self.children.sweep()  # child runs ended elsewhere, or that nothing waits for
        await self._claim_ready(now)

    async def _claim_ready(self, now: float) -> None:
        if self.worker().capacity > 0:
            for transition in await self.store.claim_ready(now, self.worker()):
                self.apply(transition)
        if self.worker().capacity > 0:  # steps held by their action's max_concurrency, in turn
            for transition in await self.store.dispatch_throttled(now, self.worker()):
                self.apply(transition)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease / 3)
            keys = [(c.run_id, c.step) for c in self._inflight.values()]
            if keys:
                until = self.clock.now().timestamp() + self.settings.lease
                with contextlib.suppress(ControlPlaneError):
                    await self.store.renew_leases(self.settings.worker, keys, until)
