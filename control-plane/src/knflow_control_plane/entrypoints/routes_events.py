"""``POST /v1/events``: CloudEvents in (binary, structured or a structured batch), onto ``knflow.triggers``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from knflow_eventing import MalformedCloudEvent, parse_http

from .problems import problem
from .routes_workflows import plane

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
