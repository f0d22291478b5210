"""API keys: created once (the secret is shown only then), stored as hashes, with a role and an optional
expiry, revocable; checked on every request. Custom triggers get derived keys that can only post events
of their own source.

A replica remembers a key it found live for at most :data:`CACHE_SECONDS` (a query per request saved):
a key revoked on another replica stops working there within that bound; on the replica that revoked it,
at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from ..domain.access import Need, Principal, Role
from ..errors import Forbidden, NotFound, Unauthorized
from ..ports import AccessStore

PREFIX = "knf_"
SOURCE_PREFIX = "knfs_"
#: the longest a revoked key keeps working on a replica other than the one that revoked it (seconds)
CACHE_SECONDS = 0.5
_SOURCE_DOMAIN = b"knflow-source-key/v1\n"


def digest(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Create, list, revoke and check the API keys of every project a control plane serves.

    Args:
        access: where keys are stored.
        project: the control plane's default project (the bootstrap key's, until a request names another).
        bootstrap_key: a key always accepted as ``operator`` (to create projects and their first keys).
        signing_secret: signs the keys of custom triggers (every replica must share it).
        clock: epoch seconds (expiry).
    """

    def __init__(
        self,
        access: AccessStore,
        project: str,
        bootstrap_key: str | None = None,
        signing_secret: bytes = b"",
        clock: Callable[[], float] = time.time,
    ):
        self.access = access
        self.project = project
        self.bootstrap_key = bootstrap_key
        self._secret = signing_secret
        self._clock = clock
        self._recent: dict[str, tuple[Principal, float | None, float]] = {}  # hash -> (who, expires, seen)

    async def create(
        self, project: str, name: str, role: Role = Role.admin, expires_in: float | None = None
    ) -> dict[str, Any]:
        """A new key of ``project``; its secret (``key``) is in the result and nowhere else."""
        key = PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        record = {
            "id": secrets.token_hex(8),
            "project": project,
            "name": name,
            "role": role.value,
            "key_hash": digest(key),
            "created_at": now,
            "expires_at": None if expires_in is None else now + expires_in,
        }
        await self.access.put_api_key(record)
        return {k: v for k, v in record.items() if k != "key_hash"} | {"key": key}

    async def list(self, project: str) -> list[dict[str, Any]]:
        """The project's keys, without secrets."""
        return await self.access.list_api_keys(project)

    async def revoke(self, project: str, key_id: str) -> None:
        """Revoke a key: refused at once here, within :data:`CACHE_SECONDS` on other replicas.

        Raises:
            NotFound: when the project has no live key with this id.
        """
        if not await self.access.revoke_api_key(project, key_id, self._clock()):
            raise NotFound(f"no live API key {key_id!r}", field="id")
        self._recent.clear()

    def forget(self) -> None:
        """Forget the keys remembered as live (a project was deleted here: its keys stop working at once)."""
        self._recent.clear()

    async def principal(self, authorization: str | None) -> Principal:
        """Who the request's ``Authorization: Bearer`` key acts as.

        Raises:
            Unauthorized: no key, or an unknown, revoked or expired key.
        """
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized(field="authorization")
        if self.bootstrap_key and hmac.compare_digest(key, self.bootstrap_key):
            return Principal(self.project, Role.operator)
        if key.startswith(SOURCE_PREFIX):
            return self._source_principal(key)
        hashed = digest(key)
        now = self._clock()
        cached = self._recent.get(hashed)
        if cached is not None and time.monotonic() - cached[2] < CACHE_SECONDS and _alive(cached[1], now):
            return cached[0]
        record = await self.access.find_api_key(hashed)
        if record is None or not _alive(record["expires_at"], now):
            self._recent.pop(hashed, None)
            raise Unauthorized("the API key is unknown, revoked or expired", field="authorization")
        found = Principal(record["project"], Role(record["role"]), key_id=record["id"])
        self._recent[hashed] = (found, record["expires_at"], time.monotonic())
        return found

    async def require(self, authorization: str | None, need: Need) -> Principal:
        """:meth:`principal`, refused unless its role covers ``need``.

        Raises:
            Unauthorized: see :meth:`principal`.
            Forbidden: the key's role does not cover ``need``.
        """
        found = await self.principal(authorization)
        if not found.may(need):
            raise Forbidden(f"a {found.role.value} key cannot do this (it needs {need.value})", field="authorization")
        return found

    def source_key(self, project: str, workflow: str, trigger: str) -> str:
        """The key a custom trigger of ``project`` posts its events with: ``invoke`` for its own source only."""
        return source_key(self._secret, project, workflow, trigger)

    def _source_principal(self, key: str) -> Principal:
        body, _, signature = key[len(SOURCE_PREFIX) :].partition(".")
        try:
            claim = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            claim = b""
        project, _, rest = claim.decode(errors="replace").partition("\n")
        _, _, source = rest.partition("\n")
        valid = self._secret and claim and hmac.compare_digest(signature, _sign(self._secret, claim))
        if not valid or not project or not source:
            raise Unauthorized("the trigger key is not valid here", field="authorization")
        return Principal(project, Role.source, source=source)


def source_key(secret: bytes, project: str, workflow: str, trigger: str) -> str:
    """A custom trigger's key: ``knfs_`` + its claim (project, workflow, source) + the claim's HMAC-SHA256
    under the replicas' shared signing secret (domain-separated from object URLs and reply tokens)."""
    claim = f"{project}\n{workflow}\n/triggers/{trigger}".encode()
    body = base64.urlsafe_b64encode(claim).decode().rstrip("=")
    return f"{SOURCE_PREFIX}{body}.{_sign(secret, claim)}"


def _sign(secret: bytes, claim: bytes) -> str:
    mac = hmac.new(secret, _SOURCE_DOMAIN + claim, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _alive(expires_at: float | None, now: float) -> bool:
    return expires_at is None or now < expires_at
