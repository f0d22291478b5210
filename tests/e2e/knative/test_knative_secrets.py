"""Secrets on the knative backend, against the real API server of ``scripts/services/kube.sh`` and with the
control plane's own ServiceAccount (the RBAC of ``manifests/base``): ``PUT``/``DELETE /v1/secrets`` write
the functions' Secret ``knflow-secrets-default``, and a deploy copies an action's secrets into it again."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore
from tests.kube import apply_base

from .conftest import NAMESPACE
from .controllers import FakeCluster
from .test_knative_backend import plane

SECRET = resource_path("v1", "secrets", NAMESPACE, "knflow-secrets-default")


async def secret_data(admin: KubeClient) -> dict[str, str] | None:
    """The Secret's keys and plain values, None when there is no Secret."""
    found = await admin.find(SECRET)
    if found is None:
        return None
    return {key: base64.b64decode(value).decode() for key, value in (found.get("data") or {}).items()}


@pytest.fixture
async def no_secret(admin: KubeClient) -> None:
    apply_base()
    await admin.delete(SECRET)


@pytest.mark.usefixtures("no_secret")
async def test_put_and_delete_of_a_secret_write_the_functions_kubernetes_secret(
    admin: KubeClient, bucket: tuple[str, S3ObjectStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with plane(tmp_path / "cp", bucket[0], "greet") as (_cp, client, _workflow):
        assert await secret_data(admin) is None
        reply = await client.put("/v1/secrets/API_TOKEN", json={"value": "s3cr3t-one"})
        assert reply.status_code == 201, reply.text
        assert await secret_data(admin) == {"API_TOKEN": "s3cr3t-one"}  # the Secret was created

        assert (await client.put("/v1/secrets/OTHER", json={"value": "s3cr3t-two"})).status_code == 201
        assert (await client.put("/v1/secrets/API_TOKEN", json={"value": "s3cr3t-new"})).status_code == 200
        assert await secret_data(admin) == {"API_TOKEN": "s3cr3t-new", "OTHER": "s3cr3t-two"}
        stored = await admin.get(SECRET)
        assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "knflow"

        assert (await client.delete("/v1/secrets/API_TOKEN")).status_code == 204
        assert await secret_data(admin) == {"OTHER": "s3cr3t-two"}
        assert (await client.delete("/v1/secrets/API_TOKEN")).status_code == 404
    assert not [r for r in caplog.records if "s3cr3t" in r.getMessage()]


@pytest.mark.usefixtures("no_secret")
async def test_a_deploy_copies_the_secrets_its_actions_name_even_those_set_while_the_secret_was_unwritable(
    cluster: FakeCluster, admin: KubeClient, bucket: tuple[str, Any], tmp_path: Path
) -> None:
    async with plane(tmp_path / "cp", bucket[0], "keyed") as (cp, client, workflow):
        # Set while the functions' Secret could not be written (before the backend was knative, or with the
        # API server away): only the run store has it.
        mirror, cp.access.secrets.mirror = cp.access.secrets.mirror, None
        assert (await client.put("/v1/secrets/API_TOKEN", json={"value": "set-earlier"})).status_code == 201
        cp.access.secrets.mirror = mirror
        assert await secret_data(admin) is None

        deployed = await cp.workflows.deploy(workflow)
        assert deployed["status"] == "ready", deployed
        assert await secret_data(admin) == {"API_TOKEN": "set-earlier"}
        assert len(cluster.builds) == 1
        run = (await client.post("/v1/runs?wait=60", json={"workflow": workflow, "inputs": {"item": "x"}})).json()
        assert run["status"] == "succeeded", run
        assert run["result"] == {"item": "x", "token_ends": "earlier"}  # the function read it from the Secret
