"""Every object knflow creates is accepted by the real schemas: the Knative Service CRD and batch/v1 Job
of the API server, with unknown fields rejected (strict field validation), not silently pruned."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.kaniko_manifests import KanikoOptions, render_job
from knflow_control_plane.adapters.knative.kubernetes import (
    KubeApiError,
    KubeClient,
    KubeError,
    resource_path,
    wait_for,
)
from knflow_control_plane.adapters.knative.manifests import KnativeOptions, readiness, render_service

SERVICES = ("serving.knative.dev/v1", "services")
DIGEST = "sha256:" + "0" * 64


def action(**options: Any) -> ActionSpec:
    return ActionSpec(name="Resize_Img", version="0123456789abcdef", entrypoint="pipeline:resize", options=options)


FULL = action(
    cpu="500m",
    memory="512Mi",
    gpu=1,
    timeout="20m",
    concurrency=8,
    max_instances=10,
    env={"MODE": "fast"},
    secrets=["db-creds", "api-token"],
    requirements=["pillow>=10"],
)


def kept(sent: Any, stored: Any) -> bool:
    """Whether everything in ``sent`` is in ``stored`` (which may hold more: defaults)."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(k in stored and kept(v, stored[k]) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(stored, list) and len(sent) == len(stored) and all(map(kept, sent, stored))
    return bool(sent == stored)


async def test_the_knative_service_of_an_action_is_accepted_as_rendered(admin: KubeClient, namespace: str) -> None:
    options = KnativeOptions(
        namespace=namespace,
        cluster_local=True,
        min_scale=1,
        scale_down_delay="30s",
        scale_to_zero_retention="1m",
        service_account="functions",
        image_pull_secrets=("pull",),
        env={"KNFLOW_LOG_LEVEL": "INFO"},
    )
    manifest = render_service(FULL, f"reg.local/resize-img@{DIGEST}", options)
    stored = await admin.create(resource_path(*SERVICES, namespace), manifest)
    # Nothing was pruned: what we sent is what the server keeps (plus its defaults).
    assert kept(manifest["spec"], stored["spec"])
    assert kept(manifest["metadata"]["labels"], stored["metadata"]["labels"])
    assert stored["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"memory": "512Mi", "nvidia.com/gpu": "1"},
    }
    assert stored["spec"]["template"]["spec"]["timeoutSeconds"] == 600
    assert stored["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"


async def test_the_kaniko_job_of_an_action_is_accepted_as_rendered(admin: KubeClient, namespace: str) -> None:
    options = KanikoOptions(
        namespace=namespace,
        registry="registry.knflow.svc.cluster.local:5000/knflow",
        registry_secret="push",
        s3_secret="s3",
        s3_endpoint="http://minio.knflow.svc:9000",
        insecure_registry=True,
        service_account="builder",
    )
    manifest = render_job(FULL, "s3://bucket/builds/context.tar.gz", options)
    stored = await admin.create(resource_path("batch/v1", "jobs", namespace), manifest)
    assert kept(manifest["spec"]["template"]["spec"], stored["spec"]["template"]["spec"])
    assert stored["spec"]["backoffLimit"] == 0


async def test_unknown_fields_are_refused_not_pruned(admin: KubeClient, namespace: str) -> None:
    manifest = render_service(action(), f"img@{DIGEST}", KnativeOptions(namespace=namespace))
    manifest["spec"]["template"]["spec"]["containerConcurency"] = 3  # a typo
    with pytest.raises(KubeApiError) as caught:
        await admin.create(resource_path(*SERVICES, namespace), manifest)
    assert caught.value.code in (400, 422)
    assert "containerConcurency" in str(caught.value)


async def test_wait_for_follows_status_changes_through_a_watch(admin: KubeClient, namespace: str) -> None:
    collection = resource_path(*SERVICES, namespace)
    stored = await admin.create(
        collection, render_service(action(), f"img@{DIGEST}", KnativeOptions(namespace=namespace))
    )
    waiter = asyncio.create_task(wait_for(admin, collection, stored, lambda o: readiness(o).settled, 30))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    generation = stored["metadata"]["generation"]
    status = {"observedGeneration": generation, "conditions": [{"type": "Ready", "status": "True"}], "url": "http://x"}
    await admin.merge_patch(f"{collection}/{stored['metadata']['name']}", {"status": status}, subresource="status")
    settled = readiness(await waiter)
    assert settled.ready and settled.url == "http://x"

    waiter = asyncio.create_task(wait_for(admin, collection, stored, lambda o: False, 30))
    await asyncio.sleep(0.2)
    await admin.delete(f"{collection}/{stored['metadata']['name']}")
    with pytest.raises(KubeError, match="deleted"):
        await waiter
