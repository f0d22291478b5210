"""``GET /v1/workflows/{name}/triggers``: a workflow's triggers, whether they are on, and when each
schedule fires next."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from knflow import rest
from knflow.spec import HttpTrigger, ScheduleTrigger, Trigger
from knflow_eventing import next_tick

from .context import catalogue_of, plane, workflows_of
from .openapi import problems

router = APIRouter(prefix="/v1")


@router.get("/workflows/{name}/triggers", response_model=rest.WorkflowTriggers, responses=problems(404))
async def workflow_triggers(request: Request, name: str) -> rest.WorkflowTriggers:
    """The workflow's triggers: enabled or not, each schedule's next fire time."""
    cp = plane(request)
    version = await catalogue_of(request).deployed_version(name)
    deployed = version is not None
    spec = await workflows_of(request).spec(name, version)
    now = cp.scheduler.clock.now()
    triggers = [_trigger(t, deployed, now) for t in spec.triggers]
    return rest.WorkflowTriggers(workflow=name, version=spec.version, deployed=deployed, triggers=triggers)


def _trigger(trigger: Trigger, enabled: bool, now: datetime) -> rest.TriggerState:
    out = rest.TriggerState(kind=trigger.kind, spec=trigger.model_dump(mode="json"), enabled=enabled)
    if isinstance(trigger, HttpTrigger):
        out.hook = "/hooks/" + trigger.path.strip("/")
    if isinstance(trigger, ScheduleTrigger) and enabled:
        out.next_fire_at = next_tick(trigger.cron, trigger.timezone, now).astimezone(UTC)
    return out
