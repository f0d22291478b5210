"""Rejected trigger events: events that reached knflow but started no run, kept with the reason why.

An event is never accepted and then silently dropped: when it cannot start the run it calls for (its
data does not fit the workflow's inputs, the workflow was undeployed, the event itself is unusable), a
:class:`RejectedEvent` is stored and shown by ``GET /v1/rejected-events`` and ``knflow rejected``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How much of an event's data a rejection keeps (characters): enough to see what was sent.
DATA_EXCERPT = 2000


@dataclass(frozen=True)
class RejectedEvent:
    """One trigger event that started no run (for one workflow, when it matched one).

    Attributes:
        project: the project the event was for.
        received_at: when it was rejected (epoch seconds).
        topic: the topic it came from (``knflow.triggers``, or an event trigger's own topic).
        source: the event's ``source`` (empty when the event had none).
        event_id: the event's ``id`` (empty when the event had none).
        type: the event's ``type`` (empty when the event had none).
        reason: why it started no run, as a sentence.
        subject: the event's ``subject``, if any.
        workflow: the workflow it matched but could not start, if it matched one.
        field: what was wrong (``inputs.count``, ``data``), when one field was.
        data: the start of the event's data as text (at most :data:`DATA_EXCERPT` characters).
        id: the rejection's id, set by the store (the order rejections were recorded in).
    """

    project: str
    received_at: float
    topic: str
    source: str
    event_id: str
    type: str
    reason: str
    subject: str | None = None
    workflow: str | None = None
    field: str | None = None
    data: str | None = None
    id: int | None = None


def excerpt(text: str | None) -> str | None:
    """``text`` cut to :data:`DATA_EXCERPT` characters (an ellipsis marks the cut)."""
    if text is None or len(text) <= DATA_EXCERPT:
        return text
    return text[:DATA_EXCERPT] + "…"
