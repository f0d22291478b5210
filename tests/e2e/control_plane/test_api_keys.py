"""API keys: with KNFLOW_AUTH on, every API and hook request needs a live key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .processes import ControlPlane


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": "boot-secret"}).start()
    yield cp
    cp.stop()


def test_requests_need_a_live_key(guarded: ControlPlane) -> None:
    url = guarded.url
    refused = httpx.get(f"{url}/v1/runs")
    assert refused.status_code == 401 and refused.json()["field"] == "authorization"
    assert httpx.post(f"{url}/hooks/anything").status_code == 401
    assert httpx.get(f"{url}/health/readiness").status_code == 200  # probes stay open

    boot = {"Authorization": "Bearer boot-secret"}
    created = httpx.post(f"{url}/v1/api-keys", json={"name": "ci"}, headers=boot)
    assert created.status_code == 201
    key = created.json()["key"]
    mine = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{url}/v1/runs", headers=mine).status_code == 200
    listed = httpx.get(f"{url}/v1/api-keys", headers=mine).json()["api_keys"]
    assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]

    cli = guarded.cli("runs", "--json")
    assert cli.returncode == 2
    os.environ["KNFLOW_API_KEY"] = key
    try:
        assert guarded.cli("runs", "--json").returncode == 0
    finally:
        del os.environ["KNFLOW_API_KEY"]

    assert httpx.delete(f"{url}/v1/api-keys/{created.json()['id']}", headers=mine).status_code == 204
    assert httpx.get(f"{url}/v1/runs", headers=mine).status_code == 401
    assert httpx.post(f"{url}/v1/api-keys", json={"name": ""}, headers=boot).status_code == 422
