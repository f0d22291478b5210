"""API keys and secrets: who may call the API, for what, and what functions are given."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ._base import Reply, Request

#: ``admin``: deploy and manage its project; ``invoke``: hooks and events only; ``read``: runs and logs;
#: ``operator``: every project, and the projects themselves (created only by an operator).
Role = Literal["admin", "invoke", "read", "operator"]


class ApiKeyRequest(Request):
    """``POST /v1/api-keys``: a new key of the caller's project."""

    name: str = Field(min_length=1, max_length=200)
    role: Role = "admin"
    expires_in: float | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="Seconds until the key stops working (none: never)."
    )


class ApiKey(Reply):
    """An API key as listed: never its secret."""

    id: str
    name: str
    role: Role = "admin"
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKey):
    """A new API key; ``key`` is shown in this reply only (only its hash is stored)."""

    key: str


class ApiKeyList(Reply):
    """A project's API keys."""

    api_keys: list[ApiKey]


class SecretRequest(Request):
    """``PUT /v1/secrets/{name}``: the value (UTF-8 text, at most 64 KiB); stored encrypted, never returned."""

    value: str = Field(max_length=65536)


class SecretInfo(Reply):
    """A secret set: its name, and whether it is new."""

    name: str
    created: bool


class Secret(Reply):
    """A secret as listed: its name and times, never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


class SecretList(Reply):
    """A project's secrets."""

    secrets: list[Secret]
