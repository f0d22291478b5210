"""``/v1/api-keys``: create (the secret is returned once), list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from knflow import rest

from ..domain.access import Role
from ..errors import Forbidden
from .auth import principal_of
from .context import plane, project_of
from .openapi import problems
from .schemas import iso

router = APIRouter(prefix="/v1")


def _key_json(record: dict[str, Any]) -> dict[str, Any]:
    times = ("created_at", "expires_at", "revoked_at")
    return {k: (iso(v) if k in times else v) for k, v in record.items() if k not in ("key_hash", "project")}


@router.post("/api-keys", status_code=201, response_model=rest.ApiKeyCreated, responses=problems(403))
async def create_key(request: Request, body: rest.ApiKeyRequest) -> dict[str, Any]:
    """A new API key of the project, with its role (``admin``, ``invoke``, ``read``; ``operator`` only when
    an operator asks) and optional expiry; ``key`` is shown in this reply only (only its hash is kept)."""
    if body.role == Role.operator.value and principal_of(request).role is not Role.operator:
        raise Forbidden("only an operator may create an operator key", field="role")
    created = await plane(request).access.keys.create(project_of(request), body.name, Role(body.role), body.expires_in)
    return _key_json(created)


@router.get("/api-keys", response_model=rest.ApiKeyList)
async def list_keys(request: Request) -> dict[str, Any]:
    """The project's API keys, with roles, expiry and revocation (never their secrets)."""
    return {"api_keys": [_key_json(k) for k in await plane(request).access.keys.list(project_of(request))]}


@router.delete("/api-keys/{key_id}", status_code=204, responses=problems(404))
async def revoke_key(request: Request, key_id: str) -> Response:
    """Revoke an API key: refused from now on by this replica, within 0.5 s by every other one."""
    await plane(request).access.keys.revoke(project_of(request), key_id)
    return Response(status_code=204)
