"""The client's calls on the project's API keys and secrets, kept beside its other calls."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from . import rest

M = TypeVar("M", bound=rest.Reply)


class _Calls(Protocol):
    def _request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any: ...

    def _typed(self, model: type[M], method: str, path: str, *, json: Any = None, params: Any = None) -> M: ...


class AccessCalls:
    """Create, list and revoke API keys; set, list and delete secrets (of the caller's project)."""

    def create_key(
        self: _Calls, name: str, *, role: rest.Role = "admin", expires_in: float | None = None
    ) -> rest.ApiKeyCreated:
        """A new API key of the caller's project; its secret (``key``) is in this reply only."""
        body = rest.ApiKeyRequest(name=name, role=role, expires_in=expires_in).model_dump(mode="json")
        return self._typed(rest.ApiKeyCreated, "POST", "/v1/api-keys", json=body)

    def list_keys(self: _Calls) -> list[rest.ApiKey]:
        """The project's API keys (never their secrets)."""
        return self._typed(rest.ApiKeyList, "GET", "/v1/api-keys").api_keys

    def revoke_key(self: _Calls, key_id: str) -> None:
        """Revoke an API key: refused by every replica within half a second of this returning."""
        self._request("DELETE", f"/v1/api-keys/{key_id}")

    def set_secret(self: _Calls, name: str, value: str) -> rest.SecretInfo:
        """Create or replace a secret of the project (stored encrypted; never returned)."""
        body = rest.SecretRequest(value=value).model_dump(mode="json")
        return self._typed(rest.SecretInfo, "PUT", f"/v1/secrets/{name}", json=body)

    def list_secrets(self: _Calls) -> list[rest.Secret]:
        """The project's secrets: names and times, never values."""
        return self._typed(rest.SecretList, "GET", "/v1/secrets").secrets

    def delete_secret(self: _Calls, name: str) -> None:
        """Delete a secret."""
        self._request("DELETE", f"/v1/secrets/{name}")
