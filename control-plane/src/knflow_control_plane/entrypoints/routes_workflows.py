"""``/v1/workflows`` and ``/v1/actions``: register, list, get, versions, delete, deploy, undeploy."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from knflow import SpecError, rest
from knflow.spec import ActionSpec, problems_of

from ..domain.catalogue import Deployment
from ..service import versions
from .context import catalogue_of, plane, workflows_of
from .openapi import problems
from .schemas import iso
from .spec_body import SpecLimits, decode_files, read_registration

router = APIRouter(prefix="/v1")


_WORKFLOW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/WorkflowRequest"}},
            "application/yaml": {"schema": {"type": "object", "description": "A workflow spec (YAML)"}},
        },
    }
}


@router.post(
    "/workflows",
    status_code=201,
    response_model=rest.Registered,
    responses=problems(409, also={200: {"model": rest.Registered, "description": "This version existed already"}}),
    openapi_extra=_WORKFLOW_BODY,
)
async def register_workflow(request: Request, response: Response) -> dict[str, Any]:
    """Register a workflow version: JSON ``{"spec", "code"}``, or a YAML/JSON spec as the whole body."""
    cp = plane(request)
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    limits = SpecLimits(cp.settings.max_spec_steps, cp.settings.max_spec_bytes)
    spec, code = await asyncio.to_thread(read_registration, raw, content_type, limits)  # seconds for a big one
    version, created = await workflows_of(request).register(spec, code)
    response.status_code = 201 if created else 200
    return {"name": spec.name, "version": version, "created": created}


@router.get("/workflows", response_model=rest.WorkflowList)
async def list_workflows(request: Request) -> dict[str, Any]:
    """Every workflow with its latest version and deployment."""
    rows = await catalogue_of(request).workflows()
    return {
        "workflows": [
            {
                "name": r.name,
                "latest_version": r.latest_version,
                "deployment": r.deployment,
                "deployed_version": r.deployed_version,
                "updated_at": iso(r.updated_at),
            }
            for r in rows
        ]
    }


@router.get("/workflows/{name}", response_model=rest.Workflow, responses=problems(404))
async def get_workflow(request: Request, name: str) -> dict[str, Any]:
    """The latest version of a workflow, with its deployment."""
    spec = await workflows_of(request).spec(name)
    deployment = await catalogue_of(request).deployment(name)
    return {
        "name": name,
        "version": spec.version,
        "spec": spec.model_dump(mode="json"),
        "deployment": _deployment_json(deployment),
    }


@router.get("/workflows/{name}/versions", response_model=rest.WorkflowVersions, responses=problems(404))
async def workflow_versions(request: Request, name: str) -> dict[str, Any]:
    """Every version of a workflow, newest first."""
    history = await catalogue_of(request).versions(name)
    return {"name": name, "versions": [{"version": h.version, "created_at": iso(h.created_at)} for h in history]}


@router.get("/workflows/{name}/versions/{version}", response_model=rest.WorkflowVersion, responses=problems(404))
async def workflow_version(request: Request, name: str, version: str) -> dict[str, Any]:
    """One version of a workflow."""
    spec = await workflows_of(request).spec(name, version)
    return {"name": name, "version": version, "spec": spec.model_dump(mode="json")}


@router.delete("/workflows/{name}", status_code=204, responses=problems(404, 409))
async def delete_workflow(request: Request, name: str) -> Response:
    """Delete a workflow's definition (its runs stay). Refused while it is deployed."""
    await catalogue_of(request).delete_workflow(name)
    return Response(status_code=204)


@router.post("/workflows/{name}/deploy", response_model=rest.Deployment, responses=problems(404, 409, 502))
async def deploy(request: Request, name: str, body: rest.DeployRequest | None = None) -> dict[str, Any]:
    """Build and deploy the workflow's actions and enable its triggers."""
    cp = plane(request)
    body = body or rest.DeployRequest()
    deployed = await workflows_of(request).deploy(name, body.version, source=body.source, replace=body.replace)
    await cp.consumer.reload()  # its event triggers match from now on here (other replicas: within a second)
    if cp.sources is not None:
        cp.sources.wake()
    return deployed


@router.post("/workflows/{name}/rollback", response_model=rest.Deployment, responses=problems(404, 409, 502))
async def rollback(request: Request, name: str, body: rest.RollbackRequest | None = None) -> dict[str, Any]:
    """Deploy an earlier version again: ``version``, or the one registered before the deployed one. Runs in
    progress keep their own versions."""
    cp = plane(request)
    deployed = await versions.rollback(workflows_of(request), name, (body or rest.RollbackRequest()).version)
    await cp.consumer.reload()  # its event triggers, as for a deploy
    if cp.sources is not None:
        cp.sources.wake()
    return deployed


@router.post("/workflows/{name}/undeploy", response_model=rest.Deployment, responses=problems(404))
async def undeploy(request: Request, name: str) -> dict[str, Any]:
    """Disable the workflow's triggers."""
    cp = plane(request)
    undeployed = await workflows_of(request).undeploy(name)
    await cp.consumer.reload()
    if cp.sources is not None:
        cp.sources.wake()
    return undeployed


@router.get("/workflows/{name}/deployment", response_model=rest.Deployment, responses=problems(404))
async def deployment(request: Request, name: str) -> dict[str, Any]:
    """The workflow's deployment status."""
    return _deployment_json(await catalogue_of(request).require_deployment(name)) or {}


def _deployment_json(record: Deployment | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "workflow": record.workflow,
        "version": record.version,
        "status": record.status,
        "error": record.error,
        "updated_at": iso(record.updated_at),
        "source": record.source,
    }


@router.post(
    "/actions",
    status_code=201,
    response_model=rest.Registered,
    responses=problems(409, also={200: {"model": rest.Registered, "description": "This version existed already"}}),
)
async def register_action(request: Request, response: Response, body: rest.ActionRequest) -> dict[str, Any]:
    """Register one action version with its code: ``{"spec": ActionSpec, "code": {"files": {...}}}``."""
    try:
        spec = ActionSpec.model_validate(body.spec)
    except ValidationError as exc:
        raise SpecError.collect(problems_of(exc, "spec")) from exc
    code = decode_files(body.code.files) if body.code else None
    created = await workflows_of(request).register_action(spec, code)
    response.status_code = 201 if created else 200
    return {"name": spec.name, "version": spec.version, "created": created}


@router.get("/actions", response_model=rest.ActionList)
async def list_actions(request: Request) -> dict[str, Any]:
    """Every action version, newest first per action."""
    rows = await catalogue_of(request).actions()
    return {
        "actions": [
            {
                "name": r.name,
                "version": r.version,
                "build_status": r.build_status,
                "entrypoint": r.spec["entrypoint"],
                "created_at": iso(r.created_at),
            }
            for r in rows
        ]
    }


@router.get("/actions/{name}", response_model=rest.Action, responses=problems(404))
async def get_action(request: Request, name: str, version: str | None = None) -> dict[str, Any]:
    """An action version (the newest by default) with its build logs."""
    record = await catalogue_of(request).action(name, version)
    return {
        "name": name,
        "version": record.version,
        "spec": record.spec,
        "build_status": record.build_status,
        "build_logs": record.build_logs,
        "artifact": record.artifact,
    }


@router.delete("/actions/{name}", status_code=204, responses=problems(404))
async def delete_action(request: Request, name: str) -> Response:
    """Delete every version of an action."""
    await catalogue_of(request).delete_action(name)
    return Response(status_code=204)
