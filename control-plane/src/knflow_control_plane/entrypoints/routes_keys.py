"""``/v1/api-keys``: create (the secret is returned once), list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .routes_workflows import plane
from .schemas import iso

router = APIRouter(prefix="/v1")


class KeyIn(BaseModel):
    """``POST /v1/api-keys``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


@router.post("/api-keys", status_code=201)
async def create_key(request: Request, body: KeyIn) -> dict[str, Any]:
    """A new API key; ``key`` is shown in this reply only."""
    return await plane(request).api_keys.create(body.name)


@router.get("/api-keys")
async def list_keys(request: Request) -> dict[str, Any]:
    """The project's API keys (never their secrets)."""
    keys = await plane(request).api_keys.list()
    return {
        "api_keys": [
            {"id": k["id"], "name": k["name"], "created_at": iso(k["created_at"]), "revoked_at": iso(k["revoked_at"])}
            for k in keys
        ]
    }


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_key(request: Request, key_id: str) -> Response:
    """Revoke an API key at once."""
    await plane(request).api_keys.revoke(key_id)
    return Response(status_code=204)
