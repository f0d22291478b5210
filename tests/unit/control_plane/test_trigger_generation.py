"""An event that matches some of the triggers a replica holds still starts the workflows deployed since its
last read of them (on another replica, or by the same ``knflow deploy`` a moment earlier): the consumer
reads the triggers' generation after the event arrives and reads the triggers again when it grew. Found by
the replicas' e2e test in CI: 9 of 60 events started the run of one workflow of the two on their type.

The store is the in-memory one shipped in the package (its generation is the contract's, checked on
SQLite and Postgres in ``tests/integration/contracts/test_triggers.py``); ``Workflows`` is a stand-in
(``trigger_doubles.py``)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from knflow import event
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.ports import RunStore
from knflow_control_plane.service.trigger_consumer import TriggerConsumer
from knflow_control_plane.service.workflows import Workflows
from knflow_eventing import EventBus, make_event

from .trigger_doubles import Starts

ORDER = event(type="com.shop.order.created").model_dump()
EU_ORDER = event(type="com.shop.order.created", source="/shop/eu").model_dump()


class CountedReads(MemoryStore):
    """The in-memory store, counting the reads of the triggers and of their generation."""

    def __init__(self) -> None:
        super().__init__()
        self.trigger_reads = 0
        self.generation_reads = 0

    async def list_event_triggers(self, project: str | None) -> Any:
        self.trigger_reads += 1
        return await super().list_event_triggers(project)

    async def triggers_generation(self) -> int:
        self.generation_reads += 1
        return await super().triggers_generation()


async def replica_that_read(*known: str) -> tuple[TriggerConsumer, CountedReads, Starts]:
    """A replica that read the triggers when the workflows ``known`` (on every order) were deployed."""
    store, workflows = CountedReads(), Starts()
    # refresh: the periodic reload never comes during a test; only events make the consumer read
    replica = TriggerConsumer(cast(EventBus, None), cast(RunStore, store), cast(Workflows, workflows), refresh=3600.0)
    for workflow in known:
        await store.replace_triggers("default", workflow, "v1", [ORDER], [], 1.0)
    await replica.reload()
    return replica, store, workflows


def order(n: int) -> Any:
    return make_event("com.shop.order.created", "/shop/eu", {"order": n}, id=f"o-{n}")


async def test_an_event_matching_a_held_trigger_also_starts_a_workflow_deployed_since_the_last_reload() -> None:
    replica, store, workflows = await replica_that_read("all_shop_events")  # the first workflow of the file
    await store.replace_triggers("default", "eu_orders", "v1", [EU_ORDER], [], 1.0)  # deployed elsewhere

    assert await replica.handle(order(1)) == ["run-1", "run-2"]
    assert workflows.started == ["all_shop_events", "eu_orders"]
    assert replica.duplicates == 0  # the workflow started before the reload is not asked for again
    assert sorted(w for _, w, _ in replica.matches(order(2))) == ["all_shop_events", "eu_orders"]


async def test_with_no_change_since_the_last_reload_an_event_reads_the_triggers_no_more() -> None:
    replica, store, _ = await replica_that_read("all_shop_events")
    reads = store.trigger_reads

    assert await replica.handle(order(1)) == ["run-1"]
    assert await replica.handle(make_event("com.shop.refund", "/shop", {}, id="r-1")) == []  # matches nothing
    assert store.trigger_reads == reads  # the generation said nothing changed: no reload for either
    assert store.generation_reads == 1 + 2  # the reload's, then one for each event


async def test_an_event_matching_nothing_starts_the_workflow_deployed_on_its_type_since_the_last_reload() -> None:
    replica, store, workflows = await replica_that_read()  # nothing deployed yet
    await store.replace_triggers("default", "eu_orders", "v1", [EU_ORDER], [], 1.0)

    assert await replica.handle(order(1)) == ["run-1"]
    assert workflows.started == ["eu_orders"]


async def test_events_handled_together_share_one_read_of_the_generation() -> None:
    replica, store, workflows = await replica_that_read("all_shop_events")
    before = store.generation_reads

    started = await asyncio.gather(*[replica.handle(order(n)) for n in range(20)])

    assert sorted(run for runs in started for run in runs) == sorted(f"run-{n}" for n in range(1, 21))
    assert workflows.started == ["all_shop_events"] * 20
    # each event needs a read begun after it arrived; the 20 arrived before the first read began
    assert store.generation_reads - before == 1
