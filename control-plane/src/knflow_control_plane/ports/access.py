"""The ports of API keys and secrets: where they are kept, how values are encrypted at rest, and where the
functions read them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class AccessStore(Protocol):
    """API keys (hashed) and secrets (encrypted) of every project."""

    async def put_api_key(self, record: dict[str, Any]) -> None: ...
    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None: ...
    async def list_api_keys(self, project: str) -> list[dict[str, Any]]: ...
    async def revoke_api_key(self, project: str, key_id: str, now: float) -> bool: ...
    async def put_secret(self, project: str, name: str, ciphertext: bytes, now: float) -> bool: ...
    async def get_secrets(self, project: str, names: list[str]) -> dict[str, bytes]: ...
    async def list_secrets(self, project: str) -> list[dict[str, Any]]: ...
    async def delete_secret(self, project: str, name: str) -> bool: ...


#: the plain values of the named secrets of the project a function (by its backend name) belongs to
#: (raises when one is not set)
SecretValues = Callable[[str, list[str]], Awaitable[dict[str, str]]]
#: copies the named secrets (those that are set) of the project a function (by its backend name) belongs
#: to, to where the functions read them (see SecretMirror)
SecretSync = Callable[[str, list[str]], Awaitable[None]]


class SecretMirror(Protocol):
    """Where the functions of a backend read a project's secrets, when not from the control plane itself
    (the knative backend: one Kubernetes Secret per project, a key per secret). Values are never logged."""

    async def put(self, values: dict[str, str], project: str | None = None) -> None:
        """Set these keys of ``project``'s store (None: the default project's), creating it if needed,
        leaving the others as they are."""
        ...

    async def remove(self, name: str, project: str | None = None) -> None:
        """Remove one key of ``project``'s store (nothing when it or the store is not there)."""
        ...


class Cipher(Protocol):
    """Encrypts secret values at rest."""

    def encrypt(self, plain: bytes) -> bytes: ...
    def decrypt(self, token: bytes) -> bytes: ...
