"""``POST /v1/events``: CloudEvents in (binary, structured or a structured batch), onto ``knflow.triggers``;
``GET /v1/rejected-events``: the trigger events that started no run, and why."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from knflow_eventing import MalformedCloudEvent, parse_http

from ..domain.rejections import RejectedEvent
from .problems import problem
from .routes_workflows import plane
from .schemas import iso

router = APIRouter(prefix="/v1", tags=["events"])


@router.post(
    "/events",
    status_code=202,
    summary="Ingest CloudEvents",
    responses={
        202: {"description": "The events are on the bus; matching event triggers start runs"},
        400: {"description": "Not a valid CloudEvent; the problem names the attribute"},
        503: {"description": "The bus did not take the events; sending them again is safe"},
    },
)
async def ingest(request: Request) -> Response:
    """Publish CloudEvents (HTTP binding: ``ce-*`` headers, ``application/cloudevents+json``, or
    ``application/cloudevents-batch+json``) to ``knflow.triggers``.

    Runs start once per event (source, id) and matching trigger, whatever the number of deliveries.
    """
    body = await request.body()
    try:
        events = parse_http(request.headers.items(), body)
    except MalformedCloudEvent as exc:
        extra = {"index": exc.index} if exc.index is not None else {}
        return problem(400, "Malformed CloudEvent", str(exc), field=exc.attribute, **extra)
    await plane(request).intake.ingest(events)
    return JSONResponse({"accepted": len(events), "ids": [e.get_id() for e in events]}, status_code=202)


class RejectedEventOut(BaseModel):
    """One trigger event that started no run (of ``workflow``, when it matched one), and why."""

    id: int
    received_at: str
    topic: str
    source: str
    event_id: str
    type: str
    subject: str | None
    workflow: str | None
    reason: str
    field: str | None
    data: str | None


class RejectedEventsOut(BaseModel):
    """A page of rejected events, newest first; ``next_cursor`` continues it."""

    rejected_events: list[RejectedEventOut]
    next_cursor: str | None


def _out(rejected: RejectedEvent) -> RejectedEventOut:
    return RejectedEventOut(
        id=rejected.id or 0,
        received_at=iso(rejected.received_at) or "",
        topic=rejected.topic,
        source=rejected.source,
        event_id=rejected.event_id,
        type=rejected.type,
        subject=rejected.subject,
        workflow=rejected.workflow,
        reason=rejected.reason,
        field=rejected.field,
        data=rejected.data,
    )


@router.get("/rejected-events", summary="List rejected trigger events")
async def list_rejected(
    request: Request,
    workflow: str | None = None,
    cursor: int | None = Query(None, ge=1, description="``next_cursor`` of the previous page"),
    limit: int = Query(50, ge=1, le=500),
) -> RejectedEventsOut:
    """Trigger events that were accepted but started no run (their data did not fit the workflow's
    inputs, the workflow was undeployed...), newest first, with the reason and the field at fault."""
    cp = plane(request)
    found = await cp.store.list_rejected(cp.settings.project, workflow=workflow, limit=limit + 1, before=cursor)
    more = len(found) > limit
    page = found[:limit]
    return RejectedEventsOut(
        rejected_events=[_out(r) for r in page], next_cursor=str(page[-1].id) if more and page else None
    )
