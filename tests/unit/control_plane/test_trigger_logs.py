"""The lines the trigger consumer logs about an event are tagged with the event's context, not with the
run another of its workflows started just before (found by hand: the refusal of ``all_shop_events``
carried the id of the ``eu_orders`` run the same event had started)."""

from __future__ import annotations

import logging
from typing import Any, cast

from knflow import event
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.errors import InvalidRequest
from knflow_control_plane.observability import logs
from knflow_control_plane.ports import RunStore
from knflow_control_plane.service.trigger_consumer import TriggerConsumer
from knflow_control_plane.service.workflows import Workflows
from knflow_eventing import EventBus, make_event

from .trigger_doubles import Starts

ORDER = event(type="com.shop.order.created").model_dump()


class Lines(logging.Handler):
    """Each record's message and the ids bound when it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), logs.bound()))


async def test_a_refusal_logged_after_another_workflows_run_started_carries_no_run_id() -> None:
    store = MemoryStore()
    for workflow in ("eu_orders", "strict_orders"):  # matched in this order
        await store.replace_triggers("default", workflow, "v1", [ORDER], [], 1.0)
    refused = InvalidRequest("unknown input 'region'; strict_orders takes ['order']", field="inputs.region")
    workflows = Starts(refusals={"strict_orders": refused})
    consumer = TriggerConsumer(cast(EventBus, None), cast(RunStore, store), cast(Workflows, workflows))
    await consumer.reload()
    lines, logger = Lines(), logging.getLogger("knflow.triggers")
    logger.addHandler(lines)
    try:
        started = await consumer.handle(make_event("com.shop.order.created", "/shop", {"order": "A-1"}, id="42"))
    finally:
        logger.removeHandler(lines)

    assert started == ["run-1"] and workflows.started == ["eu_orders"]
    [(message, bound)] = [line for line in lines.lines if "strict_orders" in line[0]]
    assert "starts no run of strict_orders" in message
    assert "run_id" not in bound
