"""A trigger's ``priority`` reaches the run it starts: the trigger consumer keeps it in the run's trigger
record (where ``Workflows.start`` reads it for the run's place in its concurrency queue), for an event
trigger and for an HTTP trigger's event; a trigger without one adds nothing."""

from __future__ import annotations

from typing import Any, cast

from knflow import event
from knflow_control_plane.domain.records import DeployedTrigger
from knflow_control_plane.ports import RunStore
from knflow_control_plane.service.trigger_consumer import TriggerConsumer
from knflow_control_plane.service.trigger_intake import HTTP_TRIGGER_TYPE
from knflow_control_plane.service.workflows import Workflows
from knflow_eventing import EventBus, make_event

from .trigger_doubles import Starts


def deployed(workflow: str, kind: str, priority: int | None) -> DeployedTrigger:
    trigger = event(type=kind, priority=priority).model_dump()
    return DeployedTrigger(project="default", workflow=workflow, position=0, version="v1", trigger=trigger)


class Rows:
    def __init__(self, rows: list[DeployedTrigger]) -> None:
        self.rows = rows

    async def list_event_triggers(self, project: str | None) -> list[DeployedTrigger]:
        return self.rows

    async def triggers_generation(self) -> int:
        return 1  # no deploy while these tests run

    async def record_rejected(self, rejected: list[Any]) -> None:
        raise AssertionError(f"nothing is rejected here: {rejected}")


async def test_event_and_http_triggers_keep_their_priority_in_the_runs_trigger_record() -> None:
    rows = Rows([deployed("urgent", "com.shop.rush", 7), deployed("plain", "com.shop.order", None)])
    workflows = Starts()
    consumer = TriggerConsumer(cast(EventBus, None), cast(RunStore, rows), cast(Workflows, workflows), refresh=3600.0)
    await consumer.reload()
    await consumer.handle(make_event("com.shop.rush", "/shop", {"n": 1}, id="e-1"))
    await consumer.handle(make_event("com.shop.order", "/shop", {"n": 1}, id="e-2"))
    hook = {"workflow": "hooked", "version": "v1", "inputs": {}, "method": "POST", "path": "/r", "priority": -5}
    await consumer.handle(make_event(HTTP_TRIGGER_TYPE, "/hooks/r", hook, id="h-1"))
    assert workflows.triggers["urgent"]["priority"] == 7 and workflows.triggers["urgent"]["kind"] == "event"
    assert "priority" not in workflows.triggers["plain"]
    assert workflows.triggers["hooked"]["priority"] == -5 and workflows.triggers["hooked"]["kind"] == "http"
