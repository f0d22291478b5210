"""Fixtures of the tests against a real Knative Serving (``scripts/services/knative.sh``): its own API
server with ``manifests/base`` applied, Knative's webhook and controller, the functions namespace emptied
of knflow's objects before and after each test."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, resource_path
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore
from tests.integration.objects.s3_service import s3_endpoint
from tests.kube import apply_base, client
from tests.services import knative_env

NAMESPACE = "knflow-functions"
KINDS = (("serving.knative.dev/v1", "services"), ("batch/v1", "jobs"), ("v1", "pods"))


async def clean(kube: KubeClient) -> None:
    """Delete knflow's Services, Jobs and pods of the functions namespace (names are stable per action
    version: an earlier test's Service must not look deployed to this one)."""
    for api_version, plural in KINDS:
        collection = resource_path(api_version, plural, NAMESPACE)
        for item in (await kube.list(collection, label_selector="app.kubernetes.io/managed-by=knflow"))["items"]:
            await kube.delete(f"{collection}/{item['metadata']['name']}")


async def _default_service_account(kube: KubeClient) -> None:
    # Knative's webhook validates a Service by a dry-run create of its pod, which the ServiceAccount
    # admission refuses without the namespace's "default" account (the controller-manager's to make).
    with contextlib.suppress(KubeApiError):
        await kube.create(
            resource_path("v1", "serviceaccounts", NAMESPACE),
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
        )


@pytest.fixture
async def admin() -> AsyncIterator[KubeClient]:
    """A client of the real-Knative cluster with the admin token (the test's own powers)."""
    kube = client(knative_env()["KNFLOW_TEST_KNATIVE_TOKEN_FILE"], knative=True)
    apply_base(knative=True)
    await _default_service_account(kube)
    await clean(kube)
    yield kube
    await clean(kube)
    await kube.close()


@pytest.fixture
async def knflow_client(admin: KubeClient) -> AsyncIterator[KubeClient]:
    """A client with the token of knflow's own ServiceAccount (the RBAC of ``manifests/base``)."""
    kube = client(knative_env()["KNFLOW_TEST_KNATIVE_KNFLOW_TOKEN_FILE"], knative=True)
    yield kube
    await kube.close()


@pytest.fixture
async def bucket() -> AsyncIterator[str]:
    """A fresh bucket of the moto S3 server (where build contexts go)."""
    name = f"t-{secrets.token_hex(6)}"
    store = S3ObjectStore(name, endpoint_url=s3_endpoint(), access_key="test", secret_key="test", create_bucket=True)
    await store.start()
    yield name
    await store.close()
