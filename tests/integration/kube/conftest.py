"""Clients of the real API server started by ``scripts/services/kube.sh`` (kube-apiserver, etcd and the
Knative CRDs), and a fresh namespace per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.kubernetes import KubeClient, KubeConfig, resource_path
from tests.services import kube_env


def client(token_file: str) -> KubeClient:
    """A client of the test API server authenticated by the token in ``token_file``."""
    env = kube_env()
    config = KubeConfig(
        url=env["KNFLOW_TEST_KUBE_URL"], token_file=Path(token_file), ca_file=Path(env["KNFLOW_TEST_KUBE_CA_FILE"])
    )
    return KubeClient(config, field_manager="knflow-test")


@pytest.fixture
async def admin() -> AsyncIterator[KubeClient]:
    """A client with the admin token."""
    kube = client(kube_env()["KNFLOW_TEST_KUBE_TOKEN_FILE"])
    yield kube
    await kube.close()


@pytest.fixture
async def namespace(admin: KubeClient) -> str:
    """A new namespace (never deleted: no namespace controller runs to finish a deletion)."""
    name = f"t-{secrets.token_hex(5)}"
    await admin.create(
        resource_path("v1", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return name
