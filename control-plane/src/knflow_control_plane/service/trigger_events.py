"""What the trigger consumer reads of an event: its trace, its project, its time, which deployed triggers
may take it; and the span it is consumed in (``service/trigger_consumer.py``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from knflow.spec import EventTrigger, SourceTrigger

from ..domain.records import DeployedTrigger
from .trigger_intake import PROJECT_EXTENSION

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


class ConsumeTracing(Protocol):
    """Makes the span of consuming one event, child of the producer's ``traceparent`` (observability)."""

    def consume(self, event: CloudEvent, topic: str) -> AbstractContextManager[None]:
        """A context in which the run started for ``event`` joins the event's trace."""
        ...


@contextlib.contextmanager
def no_span() -> Iterator[None]:
    yield


def trace_of(event: CloudEvent) -> tuple[str | None, str | None]:
    """(trace id, parent span id) from the event's ``traceparent`` extension, when it has a valid one."""
    value = event.get_extension("traceparent")
    match = _TRACEPARENT.match(value) if isinstance(value, str) else None
    return (match.group(1), match.group(2)) if match else (None, None)


def project_of_event(event: CloudEvent, default: str) -> str:
    """The project an event was posted for (``knflowproject``: set by the API from the caller's key, and by
    an HTTP trigger from its route), else ``default``."""
    named = event.get_extension(PROJECT_EXTENSION)
    return named if isinstance(named, str) and named else default


def for_project(event: CloudEvent, row: DeployedTrigger) -> bool:
    """Whether a trigger of ``row``'s project may take ``event``: any project's, when the event names none
    (it came straight from a topic); only its own project's, when it does (posted with a project's key)."""
    named = event.get_extension(PROJECT_EXTENSION)
    return not named or named == row.project


def epoch(event: CloudEvent) -> float | None:
    at = event.get_time()
    if not isinstance(at, datetime):
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def event_trigger(stored: dict[str, Any]) -> EventTrigger:
    """A stored trigger as the event trigger it matches with (a custom trigger matches its own source)."""
    if stored.get("kind") == "source":
        return SourceTrigger.model_validate(stored).as_event_trigger()
    return EventTrigger.model_validate(stored)
