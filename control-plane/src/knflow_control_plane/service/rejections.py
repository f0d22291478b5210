"""Rejected trigger events: how an event that starts no run becomes a record (``domain/rejections.py``).

Whatever refuses an event after it was accepted (the trigger consumer, a check of the event's data)
records it here instead of only logging it, so the API and ``knflow rejected`` show it with its reason.
"""

from __future__ import annotations

import json
import time

from cloudevents.core.v1.event import CloudEvent

from ..domain.rejections import RejectedEvent, excerpt


def rejected_event(
    event: CloudEvent, project: str, topic: str, reason: str, *, workflow: str | None = None, field: str | None = None
) -> RejectedEvent:
    """The record of ``event`` starting no run (of ``workflow``, when it matched one), for the store."""
    return RejectedEvent(
        project=project,
        received_at=time.time(),
        topic=topic,
        source=event.get_source() or "",
        event_id=event.get_id() or "",
        type=event.get_type() or "",
        reason=reason,
        subject=event.get_subject(),
        workflow=workflow,
        field=field,
        data=excerpt(_data_text(event.get_data())),
    )


def _data_text(data: object) -> str | None:
    if data is None:
        return None
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode("utf-8", "replace")
    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except ValueError:  # a circular or otherwise unprintable value
        return repr(data)
