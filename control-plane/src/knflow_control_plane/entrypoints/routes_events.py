"""``POST /v1/events``: CloudEvents in (binary, structured or a structured batch), onto ``knflow.triggers``;
``GET /v1/rejected-events``: the trigger events that started no run, and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from knflow import rest
from knflow_eventing import parse_http

from ..domain.rejections import RejectedEvent
from ..errors import Forbidden
from .auth import named_project, principal_of
from .context import catalogue_of, plane
from .limits import parse_body
from .openapi import problems
from .schemas import iso

router = APIRouter(prefix="/v1", tags=["events"])
_TEXT = {"type": "string", "minLength": 1}
# CloudEvents 1.0, JSON format: what structured mode takes (binary mode, ``ce-*`` headers, is not declared:
# OpenAPI cannot say "these headers, or else that body").
_CLOUDEVENT: dict[str, Any] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": _TEXT,
        "source": _TEXT,
        "type": _TEXT,
        "subject": _TEXT,
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": _TEXT,
        "dataschema": _TEXT,
        "data": {},
    },
    "patternProperties": {"^[a-z0-9]{1,20}$": {}},  # extension attributes
    "additionalProperties": False,
}
_CLOUDEVENTS: dict[str, Any] = {
    "application/cloudevents+json": {"schema": _CLOUDEVENT},
    "application/cloudevents-batch+json": {"schema": {"type": "array", "items": _CLOUDEVENT}},
}


@router.post(
    "/events",
    status_code=202,
    summary="Ingest CloudEvents",
    response_model=None,  # a JSONResponse, declared below: ingest is a measured path (docs/performance.md)
    responses=problems(
        400, also={202: {"model": rest.EventsAccepted, "description": "On the bus; matching triggers start runs"}}
    ),
    openapi_extra={"requestBody": {"required": True, "content": _CLOUDEVENTS}},
)
async def ingest(request: Request) -> Response:
    """Publish CloudEvents (HTTP binding: ``ce-*`` headers, ``application/cloudevents+json``, or
    ``application/cloudevents-batch+json``) to ``knflow.triggers``.

    Runs start once per event (source, id) and matching trigger, whatever the number of deliveries.
    """
    body = await request.body()
    events = await parse_body(len(body), parse_http, list(request.headers.items()), body)  # MalformedCloudEvent
    own = principal_of(request).source
    if own is not None:  # a custom trigger's key: its own source only, so its events start only its runs
        stray = next((e.get_source() for e in events if e.get_source() != own), None)
        if stray is not None:
            raise Forbidden(f"this trigger's key posts events of source {own!r} only, not {stray!r}", field="source")
    # A key's project (or the one the header names) only; keys off and no header: any project's triggers,
    # as for an event from a topic (a custom trigger of any project posts so on a plane without keys).
    await plane(request).intake.ingest(events, named_project(request))
    return JSONResponse({"accepted": len(events), "ids": [e.get_id() for e in events]}, status_code=202)


def _out(rejected: RejectedEvent) -> rest.RejectedEvent:
    return rest.RejectedEvent(
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
    cursor: int | None = Query(None, ge=1, le=2**63 - 1, description="``next_cursor`` of the previous page"),
    limit: int = Query(50, ge=1, le=500),
) -> rest.RejectedEvents:
    """Trigger events that were accepted but started no run (their data did not fit the workflow's
    inputs, the workflow was undeployed...), newest first, with the reason and the field at fault."""
    found = await catalogue_of(request).rejected(workflow, limit + 1, cursor)
    more = len(found) > limit
    page = found[:limit]
    return rest.RejectedEvents(
        rejected_events=[_out(r) for r in page], next_cursor=str(page[-1].id) if more and page else None
    )
