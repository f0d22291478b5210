"""Clients of the real API server started by ``scripts/services/kube.sh`` (kube-apiserver, etcd and the
Knative CRDs), and a fresh namespace per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from tests.kube import client
from tests.services import kube_env


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
