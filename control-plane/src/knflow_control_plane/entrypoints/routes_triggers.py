"""``GET /v1/workflows/{name}/triggers``: a workflow's triggers, whether they are on, and when each
schedule fires next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from knflow.spec import HttpTrigger, ScheduleTrigger, Trigger
from knflow_eventing import next_tick

from .routes_workflows import plane
from .schemas import iso

router = APIRouter(prefix="/v1")


class TriggerOut(BaseModel):
    """One trigger of the workflow's spec.

    Attributes:
        kind: ``http``, ``event``, ``schedule``, ``manual`` or ``source``.
        spec: the trigger as the spec declares it.
        enabled: whether it starts runs now (the workflow is deployed and ready).
        hook: the path an ``http`` trigger answers at (``/hooks/...``).
        next_fire_at: when a ``schedule`` fires next (RFC 3339 UTC), while it is enabled.
    """

    kind: str
    spec: dict[str, Any]
    enabled: bool
    hook: str | None = None
    next_fire_at: str | None = None


class TriggersOut(BaseModel):
    """A workflow's triggers, read from the deployed version (the latest one when none is deployed)."""

    workflow: str
    version: str
    deployed: bool
    triggers: list[TriggerOut]


@router.get("/workflows/{name}/triggers", response_model=TriggersOut)
async def workflow_triggers(request: Request, name: str) -> TriggersOut:
    """The workflow's triggers: enabled or not, each schedule's next fire time."""
    cp = plane(request)
    deployment = await cp.store.get_deployment(cp.settings.project, name)
    deployed = deployment is not None and deployment["status"] == "ready"
    spec = await cp.workflows.spec(name, deployment["version"] if deployed and deployment else None)
    now = cp.scheduler.clock.now()
    triggers = [_trigger(t, deployed, now) for t in spec.triggers]
    return TriggersOut(workflow=name, version=spec.version, deployed=deployed, triggers=triggers)


def _trigger(trigger: Trigger, enabled: bool, now: datetime) -> TriggerOut:
    out = TriggerOut(kind=trigger.kind, spec=trigger.model_dump(mode="json"), enabled=enabled)
    if isinstance(trigger, HttpTrigger):
        out.hook = "/hooks/" + trigger.path.strip("/")
    if isinstance(trigger, ScheduleTrigger) and enabled:
        out.next_fire_at = iso(next_tick(trigger.cron, trigger.timezone, now).timestamp())
    return out
