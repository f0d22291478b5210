"""Outages of the run store, seen from the control plane: background loops back off and log once per
change of state, and readiness asks the store whether it can take a write now.

A database made read-only, full or unreachable used to leave readiness at 200 while the poll loop logged
a traceback per attempt (hundreds a second). Now a loop that fails logs one line when the outage starts
and one when it ends, and waits a growing, jittered delay in between (replicas do not retry in step).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from ..errors import ControlPlaneError
from ..ports import Projects

#: longest wait between attempts of a failing loop, seconds
BACKOFF_CAP = 10.0
#: seconds a readiness answer is reused (probes of several kinds arrive together)
READY_TTL = 1.0


class Outage:
    """One background loop's record of an outage of what it depends on.

    Args:
        what: what the loop does, for its log lines ("polling the run store").
        log: where the two lines go.
        base: the first delay after a failure, in seconds (doubled each further failure).
        cap: the longest delay.
        rng: a uniform draw in [0, 1) (tests pass a fixed one).
    """

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        *,
        base: float = 0.1,
        cap: float = BACKOFF_CAP,
        rng: Callable[[], float] = random.random,
    ):
        self.what = what
        self.log = log
        self.base = base
        self.cap = cap
        self.rng = rng
        self.failures = 0
        self._since: float | None = None

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self._since is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failure (logged only if it starts an outage); the seconds to wait before trying again:
        half the exponential delay, plus up to as much again at random."""
        if self._since is None:
            self._since = time.monotonic()
            self.log.warning("%s failed: %s; trying again with backoff until it works", self.what, exc)
        self.failures += 1
        delay: float = min(self.cap, self.base * 2.0 ** min(self.failures - 1, 30))
        return delay / 2 + self.rng() * delay / 2

    def succeeded(self) -> None:
        """Note a success (logged only if it ends an outage)."""
        if self._since is not None:
            lasted = time.monotonic() - self._since
            self.log.warning(
                "%s works again: available again after %.1fs and %d failed attempts", self.what, lasted, self.failures
            )
        self._since = None
        self.failures = 0


class StoreHealth:
    """Whether the run store can take a write now (for readiness), asked at most once per ``READY_TTL``.

    Args:
        store: the run store.
        project: the project whose row the probe locks.
    """

    def __init__(self, store: Projects, project: str, ttl: float = READY_TTL):
        self.store = store
        self.project = project
        self.ttl = ttl
        self._checked = -float("inf")
        self._problem: str | None = None
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """None when the store takes writes; otherwise why not (no SQL, no parameters)."""
        async with self._lock:
            if time.monotonic() - self._checked >= self.ttl:
                try:
                    await self.store.probe(self.project)
                    self._problem = None
                except ControlPlaneError as exc:
                    self._problem = str(exc)
                except Exception as exc:  # noqa: BLE001 - readiness answers 503, whatever broke
                    self._problem = f"the run store failed ({type(exc).__name__})"
                self._checked = time.monotonic()
            return self._problem
