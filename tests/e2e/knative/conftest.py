"""Fixtures of the knative end-to-end tests: the real API server of ``scripts/services/kube.sh`` with
``manifests/base`` applied, the moto S3 server, and the test playing the Job and Knative controllers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore
from tests.integration.objects.s3_service import s3_endpoint
from tests.kube import apply_base, client
from tests.services import kube_env

from .controllers import FakeCluster

NAMESPACE = "knflow-functions"


@pytest.fixture
async def admin() -> AsyncIterator[KubeClient]:
    """A client with the admin token (the test's own powers)."""
    kube = client(kube_env()["KNFLOW_TEST_KUBE_TOKEN_FILE"])
    yield kube
    await kube.close()


async def _clean(kube: KubeClient) -> None:
    # Names are stable per action version: an earlier test's Service must not look deployed to this one.
    for api_version, plural in (("serving.knative.dev/v1", "services"), ("batch/v1", "jobs"), ("v1", "pods")):
        collection = resource_path(api_version, plural, NAMESPACE)
        for item in (await kube.list(collection, label_selector="app.kubernetes.io/managed-by=knflow"))["items"]:
            await kube.delete(f"{collection}/{item['metadata']['name']}")


@pytest.fixture
async def bucket() -> AsyncIterator[tuple[str, S3ObjectStore]]:
    name = f"t-{secrets.token_hex(6)}"
    store = S3ObjectStore(name, endpoint_url=s3_endpoint(), access_key="test", secret_key="test", create_bucket=True)
    await store.start()
    yield name, store
    await store.close()


@pytest.fixture
async def cluster(admin: KubeClient, bucket: tuple[str, S3ObjectStore], tmp_path: Path) -> AsyncIterator[FakeCluster]:
    """The functions namespace, empty, with the test's Job and Knative controllers watching it."""
    apply_base()
    await _clean(admin)
    async with FakeCluster(admin, NAMESPACE, bucket[1], bucket[0], tmp_path / "cluster") as fake:
        yield fake
    await _clean(admin)
