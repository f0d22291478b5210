"""Steps that wait for a CloudEvent (``wait_for_event``, ``knflow.dev/v2``): how a waiting step is found
by the event that ends it, and what it becomes. No I/O.

A step reaching its wait resolves its ``match`` bindings to values; its **key** is a hash of (project,
type, source, the matched paths and their values), stored with the step, and its **shape** (project,
type, the matched paths) is stored once per distinct shape. An event is looked up in two indexed reads:
the shapes of its type, then the steps waiting on any key the event's data gives for those shapes (its
own source, and "any source"). An event of a type no wait uses costs the first read only; no wait is
ever held in memory.

Semantics (docs/sdk.md): an event resumes **every** step waiting for it when it arrives (a broadcast);
an event that arrives before a step waits for it is not kept for it; a step resumes once, by the first
matching event (the step no longer waits, so a redelivery or a second match changes nothing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .transitions import Step

#: the ``wait["kind"]`` of a step that waits for an event
KIND = "event"
_ANY_SOURCE = None
_MISSING: Any = object()


@dataclass(frozen=True)
class ArrivedEvent:
    """The parts of a CloudEvent a waiting step matches on and keeps as its output.

    Attributes:
        project: the project it was posted for (``knflowproject``), or None: from a topic, any project's.
    """

    id: str
    type: str
    source: str
    data: Any
    subject: str | None = None
    time: float | None = None
    project: str | None = None

    def as_output(self) -> dict[str, Any]:
        """The step's output ``event``."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "data": self.data,
        }


@dataclass(frozen=True)
class EventWait:
    """A step that started waiting for an event: what the store indexes it by.

    Attributes:
        key: the lookup key (:func:`wait_key`).
        shape: its type and matched paths (:func:`shape_of`), stored once per distinct value.
    """

    run_id: str
    step: str
    project: str
    type: str
    key: str
    shape: str


def is_event_wait(step: Step) -> bool:
    """Whether ``step`` waits for an event."""
    return step.wait is not None and step.wait.get("kind") == KIND


def _canonical(value: Any) -> Any:
    """``value`` as JSON compares it: an integral float is its integer (``1.0 == 1``), not ``true``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def shape_of(type_: str, paths: Iterable[str]) -> str:
    """The shape of a wait: its type and its matched paths, sorted (what an event's keys are made for)."""
    return json.dumps([type_, sorted(paths)], separators=(",", ":"))


def wait_key(project: str, type_: str, source: str | None, values: Mapping[str, Any]) -> str:
    """The lookup key of a wait for ``type_`` (from ``source``, None: any) with data ``values`` by path."""
    fields = sorted((path, _canonical(value)) for path, value in values.items())
    text = json.dumps([project, type_, source, fields], separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def registration(run_id: str, project: str, step: Step, values: Mapping[str, Any]) -> EventWait:
    """The record of ``step`` starting to wait, its match bound to ``values``."""
    wait = step.wait or {}
    type_, source = str(wait["type"]), wait.get("source")
    key = wait_key(project, type_, source, values)
    return EventWait(run_id, step.name, project, type_, key, shape_of(type_, values))


def data_at(data: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``data``; ``_MISSING`` when it has none."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def lookup_keys(event: ArrivedEvent, shapes: Iterable[tuple[str, str]]) -> list[str]:
    """The keys under which steps waiting for ``event`` are stored, given the (project, shape) of the
    waits of its type: per shape whose paths its data has, the key with its source and the "any source"
    one."""
    keys: set[str] = set()
    for project, shape in shapes:
        _type, paths = json.loads(shape)
        values = {path: data_at(event.data, path) for path in paths}
        if any(value is _MISSING for value in values.values()):
            continue
        for source in (event.source, _ANY_SOURCE):
            keys.add(wait_key(project, event.type, source, values))
    return sorted(keys)


def ended_by_event(step: Step, event: ArrivedEvent) -> dict[str, Any] | None:
    """The outputs of the waiting ``step`` that ``event`` ends (None: it does not wait for it)."""
    wait = step.wait or {}
    if wait.get("kind") != KIND or wait.get("type") != event.type:
        return None
    if wait.get("source") not in (None, event.source):
        return None
    return {"event": event.as_output()}


def timed_out(step: Step) -> dict[str, Any]:
    """The error of an event wait whose timeout passed."""
    wait = step.wait or {}
    seconds = float(wait.get("timeout") or 0)
    message = f"wait_for_event {step.name!r} got no {wait.get('type')} event within {seconds:g} s"
    return {"type": "EventWaitTimeout", "message": message, "retryable": False}


def waiting_data(step: Step, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the ``dev.knflow.step.waiting`` event of an event wait adds: the event it waits for."""
    wait = step.wait or {}
    return {"event": {"type": wait.get("type"), "source": wait.get("source"), "match": dict(values or {})}}
