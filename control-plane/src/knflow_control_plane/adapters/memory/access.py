"""API keys and secrets in memory (the :class:`~knflow_control_plane.ports.AccessStore` port)."""

from __future__ import annotations

from typing import Any

#: what a key's record shows (never its hash)
_KEY_VIEW = ("id", "project", "name", "role", "created_at", "expires_at", "revoked_at")


class MemoryAccess:
    """Keys by id (each with a unique hash) and encrypted secrets by project and name."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, Any]] = {}
        self._secrets: dict[tuple[str, str], dict[str, Any]] = {}

    async def put_api_key(self, record: dict[str, Any]) -> None:
        """Store a new key.

        Raises:
            ValueError: a key with the same id or hash exists (the database's unique keys).
        """
        if record["id"] in self._keys or any(k["key_hash"] == record["key_hash"] for k in self._keys.values()):
            raise ValueError("an API key with this id or hash exists")
        self._keys[record["id"]] = {"role": "admin", "expires_at": None, "revoked_at": None, **record}

    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        """The live (not revoked) key with this hash."""
        for key in self._keys.values():
            if key["key_hash"] == key_hash and key["revoked_at"] is None:
                return _view(key)
        return None

    async def list_api_keys(self, project: str) -> list[dict[str, Any]]:
        """The project's keys, oldest first, revoked ones included."""
        return [_view(k) for k in sorted(self._keys.values(), key=lambda k: k["created_at"]) if k["project"] == project]

    async def revoke_api_key(self, project: str, key_id: str, now: float) -> bool:
        """Revoke a live key of the project; False when there is none."""
        key = self._keys.get(key_id)
        if key is None or key["project"] != project or key["revoked_at"] is not None:
            return False
        key["revoked_at"] = now
        return True

    async def put_secret(self, project: str, name: str, ciphertext: bytes, now: float) -> bool:
        """Set a secret; True when it is new."""
        found = self._secrets.get((project, name))
        if found is not None:
            found.update(ciphertext=ciphertext, updated_at=now)
            return False
        self._secrets[(project, name)] = {"ciphertext": ciphertext, "created_at": now, "updated_at": now}
        return True

    async def get_secrets(self, project: str, names: list[str]) -> dict[str, bytes]:
        """The ciphertexts of those of ``names`` that are set."""
        return {n: self._secrets[(project, n)]["ciphertext"] for n in names if (project, n) in self._secrets}

    async def list_secrets(self, project: str) -> list[dict[str, Any]]:
        """The project's secrets by name (no values)."""
        return [
            {"name": name, "created_at": s["created_at"], "updated_at": s["updated_at"]}
            for (owner, name), s in sorted(self._secrets.items())
            if owner == project
        ]

    async def delete_secret(self, project: str, name: str) -> bool:
        """Delete a secret; False when it was not set."""
        return self._secrets.pop((project, name), None) is not None


def _view(key: dict[str, Any]) -> dict[str, Any]:
    return {name: key[name] for name in _KEY_VIEW}
