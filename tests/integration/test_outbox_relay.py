"""The lifecycle outbox on SQLite and the real Postgres: events exist exactly when their transitions
committed, and the relay publishes each of them at least once with a stable id, also across a crash
between publishing and marking, and only from the replica holding the relay lease."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from cloudevents.core.v1.event import CloudEvent

from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.service.outbox_relay import OutboxRelay
from knflow_eventing import RUNS_TOPIC, MemoryBus

from .test_store_contract import W, drive, new_run


class CrashAfterPublish(Exception):
    """The relay 'dies' after the bus took the batch, before the store marked it published."""


class Recorder(MemoryBus):
    """A memory bus that remembers every (event, key) published to the runs topic, duplicates included."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[CloudEvent, str | None]] = []

    async def publish_many(self, topic: str, events: Sequence[tuple[CloudEvent, str | None]]) -> None:
        await super().publish_many(topic, events)
        if topic == RUNS_TOPIC:
            self.seen.extend(events)


async def test_events_exist_exactly_for_committed_transitions_and_survive_a_relay_crash(
    store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    await drive(store, list(created.claims))
    committed = await store.take_outbox(1000)
    types = [row["type"] for row in committed]
    assert types[0] == "dev.knflow.run.started" and types[-1] == "dev.knflow.run.succeeded"
    assert types.count("dev.knflow.step.succeeded") == 3

    # A replayed completion changes nothing and writes no event; a transaction that fails writes none.
    await store.complete(created.run_id, "left", created.claims[0].attempt_id, Outcome.succeeded({}), time.time(), W)
    clash = replace(new_run(), run_id=created.run_id)  # the same run id again: the insert fails
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error, whichever driver
        await store.create_run(clash, time.time(), W)
    assert len(await store.take_outbox(1000)) == len(committed)

    bus = Recorder()
    first = OutboxRelay(store, bus, "replica-a")
    original = store.mark_published

    async def crash(ids: list[int], now: float) -> None:
        raise CrashAfterPublish()

    monkeypatch.setattr(store, "mark_published", crash)
    with pytest.raises(CrashAfterPublish):
        await first.relay_once()
    monkeypatch.setattr(store, "mark_published", original)
    # A new relay (the next replica, or this one restarted) publishes the batch again, same ids.
    second = OutboxRelay(store, bus, "replica-b")
    assert await second.relay_once() == len(committed)
    assert await second.relay_once() == 0
    ids = [event.get_id() for event, _key in bus.seen]
    assert len(ids) == 2 * len(committed)
    assert len(set(ids)) == len(committed)  # consumers dedup on (source, id): exactly the committed events
    assert {key for _event, key in bus.seen} == {created.run_id}
    assert [e.get_type() for e, _ in bus.seen[len(committed) :]] == types  # in commit order


async def test_one_replica_relays_at_a_time_and_a_dead_holder_is_replaced(store: SqlAlchemyStore) -> None:
    now = time.time()
    assert await store.acquire_lease("outbox-relay", "a", now, 10.0)
    assert await store.acquire_lease("outbox-relay", "a", now + 1, 10.0)  # renewal
    assert not await store.acquire_lease("outbox-relay", "b", now + 2, 10.0)
    assert await store.acquire_lease("outbox-relay", "b", now + 12, 10.0)  # a's lease expired
    assert not await store.acquire_lease("outbox-relay", "a", now + 13, 10.0)
    await store.release_lease("outbox-relay", "b")
    assert await store.acquire_lease("outbox-relay", "a", now + 14, 10.0)


async def test_published_events_are_pruned(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    await drive(store, list(created.claims))
    rows = await store.take_outbox(1000)
    await store.mark_published([row["id"] for row in rows], 100.0)
    assert await store.take_outbox(1000) == []
    assert await store.prune_outbox(published_before=50.0) == 0
    assert await store.prune_outbox(published_before=200.0) == len(rows)
