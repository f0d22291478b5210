"""API keys (hashed, revocable, per project) and encrypted secrets (per project and name)."""

from __future__ import annotations

from typing import Any

from knflow_control_plane.ports import AccessStore


def key(key_id: str, key_hash: str, created_at: float, project: str = "default") -> dict[str, Any]:
    return {"id": key_id, "project": project, "name": f"key {key_id}", "key_hash": key_hash, "created_at": created_at}


async def test_keys_are_found_by_hash_until_revoked_and_listed_per_project(access: AccessStore) -> None:
    await access.put_api_key({**key("k2", "h2", 20.0), "role": "viewer", "expires_at": 99.0})
    await access.put_api_key(key("k1", "h1", 10.0))
    await access.put_api_key(key("k3", "h3", 30.0, project="other"))
    found = await access.find_api_key("h2")
    assert found == {
        "id": "k2",
        "project": "default",
        "name": "key k2",
        "role": "viewer",
        "created_at": 20.0,
        "expires_at": 99.0,
        "revoked_at": None,
    }
    assert [k["id"] for k in await access.list_api_keys("default")] == ["k1", "k2"]
    assert not await access.revoke_api_key("other", "k1", 40.0)  # not that project's key
    assert await access.revoke_api_key("default", "k1", 40.0)
    assert not await access.revoke_api_key("default", "k1", 41.0)  # revoked already
    assert await access.find_api_key("h1") is None
    listed = {k["id"]: k["revoked_at"] for k in await access.list_api_keys("default")}
    assert listed == {"k1": 40.0, "k2": None}
    assert (await access.find_api_key("h3") or {})["project"] == "other"


async def test_secrets_are_set_replaced_read_listed_and_deleted_per_project(access: AccessStore) -> None:
    assert await access.put_secret("default", "token", b"cipher-1", 10.0)
    assert not await access.put_secret("default", "token", b"cipher-2", 20.0)  # replaced, not new
    assert await access.put_secret("default", "api", b"cipher-3", 30.0)
    assert await access.put_secret("other", "token", b"cipher-4", 30.0)
    assert await access.get_secrets("default", ["token", "missing"]) == {"token": b"cipher-2"}
    assert await access.list_secrets("default") == [
        {"name": "api", "created_at": 30.0, "updated_at": 30.0},
        {"name": "token", "created_at": 10.0, "updated_at": 20.0},
    ]
    assert await access.delete_secret("default", "token")
    assert not await access.delete_secret("default", "token")
    assert await access.get_secrets("default", ["token"]) == {}
    assert await access.get_secrets("other", ["token"]) == {"token": b"cipher-4"}
