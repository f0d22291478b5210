"""Least privilege, proven with requests bearing a token of knflow's ServiceAccount: the RBAC of
``manifests/base`` lets the control plane do what the knative backend and kaniko builder do in the
functions namespace, and nothing else (no secret but its own ``knflow-secrets-default``, no other namespace,
no cluster-wide reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.kaniko_manifests import KanikoOptions, render_job
from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, resource_path
from knflow_control_plane.adapters.knative.manifests import KnativeOptions, render_service
from tests.kube import apply_base, client
from tests.services import kube_env

ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS = "knflow-functions"
SERVICES = ("serving.knative.dev/v1", "services")
ACTION = ActionSpec(name="rbac_probe", version="feedbeef", entrypoint="m:f")


@pytest.fixture
async def knflow() -> AsyncIterator[KubeClient]:
    """A client holding the token bound to ``system:serviceaccount:knflow:knflow-control-plane``."""
    apply_base()
    kube = client(kube_env()["KNFLOW_TEST_KUBE_KNFLOW_TOKEN_FILE"])
    yield kube
    await kube.close()


async def forbidden(call: Any) -> None:
    with pytest.raises(KubeApiError) as caught:
        await call
    assert caught.value.code == 403, caught.value


async def test_the_service_account_manages_services_jobs_and_reads_pods(knflow: KubeClient) -> None:
    services = resource_path(*SERVICES, FUNCTIONS)
    manifest = render_service(ACTION, "img@sha256:" + "1" * 64, KnativeOptions(namespace=FUNCTIONS))
    name = manifest["metadata"]["name"]
    await knflow.delete(f"{services}/{name}")
    created = await knflow.create(services, manifest)
    await knflow.merge_patch(f"{services}/{name}", {"metadata": {"labels": {"probe": "yes"}}})
    assert (await knflow.get(f"{services}/{name}"))["metadata"]["labels"]["probe"] == "yes"
    assert any(i["metadata"]["name"] == name for i in (await knflow.list(services))["items"])
    events = knflow.watch(services, resource_version=created["metadata"]["resourceVersion"], timeout_seconds=1)
    async for _ in events:
        break
    await events.aclose()
    assert await knflow.delete(f"{services}/{name}")

    jobs = resource_path("batch/v1", "jobs", FUNCTIONS)
    job = render_job(ACTION, "s3://b/k.tar.gz", KanikoOptions(namespace=FUNCTIONS))
    await knflow.delete(f"{jobs}/{job['metadata']['name']}")
    await knflow.create(jobs, job)
    assert await knflow.delete(f"{jobs}/{job['metadata']['name']}")

    pods = resource_path("v1", "pods", FUNCTIONS)
    await knflow.list(pods, label_selector="batch.kubernetes.io/job-name=x")
    # pods/log is granted: the API server gets past authorization and only then finds no such pod.
    with pytest.raises(KubeApiError) as caught:
        await knflow.text(f"{pods}/no-such-pod/log")
    assert caught.value.code == 404


async def test_the_service_account_reads_no_secret_and_touches_no_other_namespace(
    knflow: KubeClient, namespace: str
) -> None:
    await forbidden(knflow.list(resource_path("v1", "secrets", FUNCTIONS)))
    await forbidden(knflow.get(resource_path("v1", "secrets", FUNCTIONS, "anything")))
    await forbidden(knflow.list(resource_path("v1", "secrets", "knflow")))
    await forbidden(knflow.list(resource_path(*SERVICES, namespace)))
    manifest = render_service(ACTION, "img@sha256:" + "1" * 64, KnativeOptions(namespace=namespace))
    await forbidden(knflow.create(resource_path(*SERVICES, namespace), manifest))
    await forbidden(
        knflow.create(resource_path("batch/v1", "jobs", "default"), render_job(ACTION, "s3://b/k", KanikoOptions()))
    )
    await forbidden(knflow.list("/apis/serving.knative.dev/v1/services"))  # cluster-wide
    await forbidden(knflow.list(resource_path("v1", "pods", "knflow")))
    await forbidden(knflow.list(resource_path("v1", "configmaps", FUNCTIONS)))
    await forbidden(knflow.list(resource_path("rbac.authorization.k8s.io/v1", "rolebindings", FUNCTIONS)))
