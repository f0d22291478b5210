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


#: the plain values of a project's named secrets (raises when one is not set)
SecretValues = Callable[[list[str]], Awaitable[dict[str, str]]]
#: copies the named secrets (those that are set) to where the functions read them (see SecretMirror)
SecretSync = Callable[[list[str]], Awaitable[None]]


class SecretMirror(Protocol):
    """Where the functions of a backend read the project's secrets, when not from the control plane itself
    (the knative backend: one Kubernetes Secret, a key per secret). Values are never logged."""

    async def put(self, values: dict[str, str]) -> None:
        """Set these keys (creating the store if needed), leaving the others as they are."""
        ...

    async def remove(self, name: str) -> None:
        """Remove one key (nothing when it or the store is not there)."""
        ...


class Cipher(Protocol):
    """Encrypts secret values at rest."""

    def encrypt(self, plain: bytes) -> bytes: ...
    def decrypt(self, token: bytes) -> bytes: ...
