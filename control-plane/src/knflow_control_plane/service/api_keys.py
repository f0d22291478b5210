"""API keys: created once (the secret is shown only then), stored as hashes, checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from ..errors import ControlPlaneError, NotFound
from ..ports import RunStore

PREFIX = "knf_"
_CACHE_SECONDS = 5.0


class Unauthorized(ControlPlaneError):
    """A valid API key is required: send ``Authorization: Bearer <key>``."""

    status = 401


def digest(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Create, list, revoke and check API keys of one project."""

    def __init__(self, store: RunStore, project: str, bootstrap_key: str | None = None):
        self.store = store
        self.project = project
        self.bootstrap_key = bootstrap_key
        self._recent: dict[str, float] = {}  # hash -> when it was last found live (saves a query per request)

    async def create(self, name: str) -> dict[str, Any]:
        """A new key; its secret is in the result and nowhere else."""
        key = PREFIX + secrets.token_urlsafe(32)
        key_id = secrets.token_hex(8)
        now = time.time()
        await self.store.put_api_key(key_id, self.project, name, digest(key), now)
        return {"id": key_id, "name": name, "key": key, "created_at": now}

    async def list(self) -> list[dict[str, Any]]:
        """The project's keys, without secrets."""
        return await self.store.list_api_keys(self.project)

    async def revoke(self, key_id: str) -> None:
        """Revoke a key at once (cached checks forget every key).

        Raises:
            NotFound: when there is no live key with this id.
        """
        if not await self.store.revoke_api_key(self.project, key_id, time.time()):
            raise NotFound(f"no live API key {key_id!r}", field="id")
        self._recent.clear()

    async def check(self, authorization: str | None) -> None:
        """Accept the request's ``Authorization`` header, or raise :class:`Unauthorized`."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized(field="authorization")
        if self.bootstrap_key and hmac.compare_digest(key, self.bootstrap_key):
            return
        hashed = digest(key)
        seen = self._recent.get(hashed)
        if seen is not None and time.monotonic() - seen < _CACHE_SECONDS:
            return
        record = await self.store.find_api_key(hashed)
        if record is None or record["project"] != self.project:
            raise Unauthorized("the API key is unknown or revoked", field="authorization")
        self._recent[hashed] = time.monotonic()
