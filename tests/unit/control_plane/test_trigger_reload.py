"""Reloads of the deployed event triggers that finish out of order: a read begun before a deploy must not
replace the triggers of a read begun after it (the event that missed would start no run and leave no
record: accepted, then silently dropped)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from knflow import event
from knflow_control_plane.domain.records import DeployedTrigger
from knflow_control_plane.ports import RunStore
from knflow_control_plane.service.trigger_consumer import TriggerConsumer
from knflow_control_plane.service.workflows import Workflows
from knflow_eventing import EventBus, make_event

from .trigger_doubles import Starts

ORDERS = DeployedTrigger(
    project="default",
    workflow="orders",
    position=0,
    version="v1",
    trigger=event(type="com.shop.order").model_dump(),
)


class SlowReads:
    """``list_event_triggers`` that reads the rows when called (its snapshot) and answers when let go."""

    def __init__(self) -> None:
        self._rows: list[DeployedTrigger] = []
        self.generation = 0
        self.reads: list[asyncio.Event] = []
        self.rejected: list[Any] = []

    @property
    def rows(self) -> list[DeployedTrigger]:
        return self._rows

    @rows.setter
    def rows(self, rows: list[DeployedTrigger]) -> None:  # a deploy: the generation counts it
        self._rows = rows
        self.generation += 1

    async def triggers_generation(self) -> int:
        return self.generation

    async def list_event_triggers(self, project: str | None) -> list[DeployedTrigger]:
        snapshot = list(self.rows)
        gate = asyncio.Event()
        self.reads.append(gate)
        await gate.wait()
        return snapshot

    async def record_rejected(self, rejected: list[Any]) -> None:
        self.rejected.extend(rejected)

    async def reads_begun(self, count: int) -> None:
        while len(self.reads) < count:
            await asyncio.sleep(0)


async def test_a_read_begun_before_a_deploy_that_finishes_last_does_not_hide_the_deployed_trigger() -> None:
    store, workflows = SlowReads(), Starts()
    consumer = TriggerConsumer(cast(EventBus, None), cast(RunStore, store), cast(Workflows, workflows), refresh=3600.0)
    periodic = asyncio.create_task(consumer.reload())  # the periodic read, before the deploy commits
    await store.reads_begun(1)
    store.rows = [ORDERS]  # the deploy (on another replica) commits
    handled = asyncio.create_task(consumer.handle(make_event("com.shop.order", "/shop", {"n": 1}, id="o-1")))
    await store.reads_begun(2)  # the event matched nothing: a read begun after it
    store.reads[1].set()  # the newer read answers first,
    store.reads[0].set()  # then the older one (its Postgres backend was descheduled, say)
    await periodic
    assert await handled == ["run-1"]
    assert workflows.started == ["orders"]
    assert consumer.matches(make_event("com.shop.order", "/shop", {}, id="o-2")) == [("default", "orders", "v1")]
