"""``/v1/api-keys``: create (the secret is returned once), list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from knflow import rest

from .openapi import problems
from .routes_workflows import plane
from .schemas import iso

router = APIRouter(prefix="/v1")


@router.post("/api-keys", status_code=201, response_model=rest.ApiKeyCreated)
async def create_key(request: Request, body: rest.ApiKeyRequest) -> dict[str, Any]:
    """A new API key; ``key`` is shown in this reply only."""
    created = await plane(request).api_keys.create(body.name)
    return created | {"created_at": iso(created["created_at"])}


@router.get("/api-keys", response_model=rest.ApiKeyList)
async def list_keys(request: Request) -> dict[str, Any]:
    """The project's API keys (never their secrets)."""
    keys = await plane(request).api_keys.list()
    return {
        "api_keys": [
            {"id": k["id"], "name": k["name"], "created_at": iso(k["created_at"]), "revoked_at": iso(k["revoked_at"])}
            for k in keys
        ]
    }


@router.delete("/api-keys/{key_id}", status_code=204, responses=problems(404))
async def revoke_key(request: Request, key_id: str) -> Response:
    """Revoke an API key at once."""
    await plane(request).api_keys.revoke(key_id)
    return Response(status_code=204)
