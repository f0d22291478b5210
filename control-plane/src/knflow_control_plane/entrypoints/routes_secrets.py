"""``/v1/secrets``: named secrets of the project; set and deleted, listed by name, never read back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request, Response

from knflow import rest

from ..service.secrets import NAME
from .context import plane, project_of
from .openapi import problems
from .schemas import iso

router = APIRouter(prefix="/v1")
_NAME = Path(pattern=NAME.pattern, description="An environment variable name: what actions get it as")


@router.put(
    "/secrets/{name}",
    response_model=rest.SecretInfo,
    responses=problems(also={201: {"model": rest.SecretInfo, "description": "A new secret"}}),
)
async def set_secret(
    request: Request, response: Response, body: rest.SecretRequest, name: str = _NAME
) -> dict[str, Any]:
    """Create or replace a secret (encrypted at rest); actions that name it (``secrets=[...]``) get it as the
    environment variable ``name`` from their next start. The value is never returned."""
    created = await plane(request).access.secrets.put(project_of(request), name, body.value)
    response.status_code = 201 if created else 200
    return {"name": name, "created": created}


@router.get("/secrets", response_model=rest.SecretList)
async def list_secrets(request: Request) -> dict[str, Any]:
    """The project's secrets: names and times, never values."""
    found = await plane(request).access.secrets.list(project_of(request))
    return {
        "secrets": [
            {"name": s["name"], "created_at": iso(s["created_at"]), "updated_at": iso(s["updated_at"])} for s in found
        ]
    }


@router.delete("/secrets/{name}", status_code=204, responses=problems(404))
async def delete_secret(request: Request, name: str = _NAME) -> Response:
    """Delete a secret (functions started before keep the value they were given)."""
    await plane(request).access.secrets.delete(project_of(request), name)
    return Response(status_code=204)
