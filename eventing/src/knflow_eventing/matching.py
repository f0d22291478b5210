"""Which event triggers an event starts runs of, and the inputs it gives them. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from knflow.spec import EventTrigger

_MISSING = object()


def matches_pattern(pattern: str | None, value: str | None) -> bool:
    """Whether ``value`` fits ``pattern``: None matches anything, ``abc*`` any value starting with ``abc``,
    anything else only itself."""
    if pattern is None:
        return True
    if value is None:
        return False
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def field_at(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` in JSON ``data`` (list items by index), or a private sentinel."""
    value = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _filters_hold(filters: Mapping[str, Any], data: Any) -> bool:
    # bool is an int in Python: True must not equal a filter of 1, nor 1 a filter of True.
    for path, expected in filters.items():
        actual = field_at(data, path)
        if actual is _MISSING or isinstance(actual, bool) != isinstance(expected, bool) or actual != expected:
            return False
    return True


def trigger_matches(trigger: EventTrigger, event: CloudEvent) -> bool:
    """Whether ``event`` starts runs through ``trigger``.

    The type is exact or a ``*`` prefix; source and subject likewise when set; every filter
    (dotted path into the JSON data -> value) must be present and equal.
    """
    return (
        matches_pattern(trigger.type, event.get_type())
        and matches_pattern(trigger.source, event.get_source())
        and matches_pattern(trigger.subject, event.get_subject())
        and _filters_hold(trigger.filters, event.get_data())
    )


def matching_triggers(event: CloudEvent, triggers: Iterable[EventTrigger]) -> list[EventTrigger]:
    """The triggers, in their given order, that ``event`` matches."""
    return [trigger for trigger in triggers if trigger_matches(trigger, event)]


def inputs_from_event(event: CloudEvent) -> dict[str, Any]:
    """A run's inputs from its trigger event: the JSON object data itself, else ``{"data": value}``
    (``{}`` when there is no data)."""
    data = event.get_data()
    if data is None:
        return {}
    if isinstance(data, dict):
        return dict(data)
    return {"data": data}
