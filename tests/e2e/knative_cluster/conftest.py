"""Fixtures of the tests against a real Knative Serving (``scripts/services/knative.sh``): its own API
server with ``manifests/base`` applied, Knative's webhook and controller, the functions namespace emptied
of knflow's objects before and after each test."""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, resource_path
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore
from tests.integration.objects.s3_service import s3_endpoint
from tests.kube import apply_base, client
from tests.services import knative_env

NAMESPACE = "knflow-functions"
ROOT = Path(__file__).resolve().parents[3]
KINDS = (("serving.knative.dev/v1", "services"), ("batch/v1", "jobs"), ("v1", "pods"))
# The cluster is one per machine, shared by every checkout's tests: each test empties the functions
# namespace, so one test at a time, machine-wide.
LOCK = "/tmp/knflow-knative-cluster.lock"


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
def cluster_lock() -> Iterator[None]:
    """The cluster to this test alone (see ``LOCK``)."""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
async def admin(cluster_lock: None) -> AsyncIterator[KubeClient]:
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


def push_image(kind: str) -> str:
    """Build and push a test image (``scripts/services/knative/images.sh``: ``runtime`` or ``builder``);
    its reference by digest as the node pulls it."""
    env = knative_env()
    script = ROOT / "scripts" / "services" / "knative" / "images.sh"
    command = ["bash", str(script), kind, env["KNFLOW_TEST_KNATIVE_REGISTRY_PUSH"]]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"images.sh {kind} failed:\n{done.stderr[-3000:]}")
    pushed = done.stdout.strip().splitlines()[-1]
    return f"{env['KNFLOW_TEST_KNATIVE_REGISTRY']}/{pushed.partition('/')[2]}"


@pytest.fixture(scope="session")
def runtime_image() -> str:
    """knflow's function runtime of this checkout as an image in the cluster's registry."""
    return push_image("runtime")


@pytest.fixture(scope="session")
def builder_image() -> str:
    """The build Job's image in the tests (in place of Kaniko's executor, see ``knative/builder.py``)."""
    return push_image("builder")
