"""Event trigger matching and the inputs an event gives a run."""

from __future__ import annotations

from typing import Any

import pytest

from knflow.spec import EventTrigger
from knflow_eventing import inputs_from_event, make_event, matching_triggers, trigger_matches

EVENT = make_event(
    "com.shop.order.created", "/shop/eu", {"order": {"total": 10, "paid": True, "items": ["a"]}}, subject="orders/42"
)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "com.shop.order.created"}, True),
        ({"type": "com.shop.order.*"}, True),
        ({"type": "com.shop.order"}, False),
        ({"type": "*"}, True),
        ({"type": "com.shop.order.created", "source": "/shop/*"}, True),
        ({"type": "com.shop.order.created", "source": "/shop"}, False),
        ({"type": "com.shop.order.created", "subject": "orders/*"}, True),
        ({"type": "com.shop.order.created", "subject": "orders/43"}, False),
        ({"type": "com.shop.order.created", "filters": {"order.total": 10}}, True),
        ({"type": "com.shop.order.created", "filters": {"order.total": 11}}, False),
        ({"type": "com.shop.order.created", "filters": {"order.paid": True, "order.items.0": "a"}}, True),
        ({"type": "com.shop.order.created", "filters": {"order.paid": 1}}, False),
        ({"type": "com.shop.order.created", "filters": {"order.missing": None}}, False),
        ({"type": "com.shop.order.created", "filters": {"order": {"total": 10}}}, False),
    ],
)
def test_trigger_matches(fields: dict[str, Any], expected: bool) -> None:
    assert trigger_matches(EventTrigger(**fields), EVENT) is expected


def test_subject_pattern_needs_a_subject() -> None:
    event = make_event("t", "/s", {})
    assert not trigger_matches(EventTrigger(type="t", subject="*"), event)
    assert trigger_matches(EventTrigger(type="t"), event)


def test_matching_triggers_keeps_order() -> None:
    triggers = [EventTrigger(type="x"), EventTrigger(type="com.*"), EventTrigger(type="com.shop.order.created")]
    assert matching_triggers(EVENT, triggers) == triggers[1:]


def test_inputs_from_event() -> None:
    assert inputs_from_event(EVENT) == {"order": {"total": 10, "paid": True, "items": ["a"]}}
    assert inputs_from_event(make_event("t", "/s", [1, 2])) == {"data": [1, 2]}
    assert inputs_from_event(make_event("t", "/s", "hi")) == {"data": "hi"}
    assert inputs_from_event(make_event("t", "/s")) == {}
