"""The outbox relay: lifecycle events reach ``knflow.runs`` after their transition committed.

Every transition writes its lifecycle events into the outbox table in its own transaction, so an event
exists exactly when its state change does. The relay publishes them in outbox order, keyed by run id,
then marks them published. A crash between publishing and marking publishes the batch again with the
same event ids (at least once; consumers dedup on (source, id)); nothing is published that did not
commit. One replica relays at a time (a lease in the store), so a run's events keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from knflow_eventing import RUNS_TOPIC, EventBus, EventingError, make_event

from ..errors import ControlPlaneError
from ..ports import Leases, Outbox
from .background import Background
from .health import Outage


class RelayStore(Outbox, Leases, Protocol):
    """What the relay needs: the outbox, and the lease of the one replica that relays."""


log = logging.getLogger("knflow.outbox")

LEASE = "outbox-relay"


def lifecycle_cloudevent(row: dict[str, Any]) -> CloudEvent:
    """The CloudEvent of one outbox row: source ``/runs/{run_id}``, the outbox id as event id."""
    data = {"run_id": row["run_id"], **({"step": row["step"]} if row["step"] else {}), **(row["data"] or {})}
    return make_event(
        row["type"],
        f"/runs/{row['run_id']}",
        data,
        subject=row["step"] or None,
        id=str(row["id"]),
        time=datetime.fromtimestamp(row["created_at"], UTC),
    )


class OutboxRelay:
    """Publishes committed lifecycle events to the bus, on the replica holding the relay lease.

    Args:
        store: the run store with the outbox.
        bus: where ``knflow.runs`` lives.
        holder: this replica's name on the lease.
        batch: events per publish.
        interval: seconds between looks when nothing woke the relay (events from other replicas).
        linger: least seconds between two relays: the transitions of a busy moment share one batch (each
            relay is two store transactions and a publish: per transition, the relay cost as much CPU as
            the transition itself); also the most a lifecycle event waits for the relay.
        lease_ttl: seconds the lease lasts without renewal (a dead holder is replaced after this).
        keep_published: seconds published events stay in the outbox (for inspection), then are pruned.
    """

    def __init__(
        self,
        store: RelayStore,
        bus: EventBus,
        holder: str,
        *,
        batch: int = 500,
        interval: float = 0.5,
        linger: float = 0.02,
        lease_ttl: float = 10.0,
        keep_published: float = 3600.0,
    ):
        self.store = store
        self.bus = bus
        self.holder = holder
        self.batch = batch
        self.interval = interval
        self.linger = linger
        self.lease_ttl = lease_ttl
        self.keep_published = keep_published
        self.published = 0
        self._held_until = 0.0
        self._next_try = 0.0
        self._next_prune = 0.0
        self._wake = asyncio.Event()
        self._background = Background("knflow-outbox-relay")

    def wake(self) -> None:
        """Relay now (a local transition wrote events)."""
        self._wake.set()

    async def start(self) -> None:
        """Relay in the background until :meth:`stop`."""
        self._background.start(self._loop())

    async def stop(self) -> None:
        """Stop relaying, publishing what is pending first (best effort), and give the lease up."""
        await self._background.stop()
        with contextlib.suppress(ControlPlaneError, EventingError):
            if await self._holding():
                await self.relay_once()
            await self.store.release_lease(LEASE, self.holder)

    async def relay_once(self) -> int:
        """Publish the oldest batch of pending events and mark it published; how many were relayed.

        Raises:
            ControlPlaneError: the store failed (nothing was marked).
            EventingError: the bus failed (nothing was marked; the batch goes again).
        """
        rows = await self.store.take_outbox(self.batch)
        if not rows:
            return 0
        await self.bus.publish_many(RUNS_TOPIC, [(lifecycle_cloudevent(row), row["run_id"]) for row in rows])
        now = time.time()
        await self.store.mark_published([row["id"] for row in rows], now)
        self.published += len(rows)
        if now >= self._next_prune:
            self._next_prune = now + 60.0
            await self.store.prune_outbox(now - self.keep_published)
        return len(rows)

    async def _holding(self) -> bool:
        now = time.time()
        # Renew at half-life, and let a replica without the lease look again only then: an idle relay
        # costs one write per lease_ttl / 2, not one per wake-up.
        if self._held_until - now > self.lease_ttl / 2:
            return True
        if not self._held_until and now < self._next_try:
            return False
        if await self.store.acquire_lease(LEASE, self.holder, now, self.lease_ttl):
            self._held_until = now + self.lease_ttl
            return True
        self._held_until = 0.0
        self._next_try = now + self.lease_ttl / 2
        return False

    async def _loop(self) -> None:
        outage = Outage("relaying lifecycle events", log, base=0.2, cap=5.0)
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            sleep = self.interval
            await asyncio.sleep(max(0.0, last + self.linger - loop.time()))
            last = loop.time()
            self._wake.clear()  # this relay covers every transition up to here
            try:
                if await self._holding():
                    while await self.relay_once() == self.batch:
                        pass  # a backlog: keep going without sleeping
                outage.succeeded()
            except (ControlPlaneError, EventingError) as exc:
                sleep = outage.failed(exc)  # one line when the outage starts, one when it ends
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)
