"""Knative's own controller reconciles what knflow writes: a Service becomes a Configuration, a Revision
and a Deployment whose pods the scheduler places (or cannot); a Revision that never gets Ready fails the
deploy with Knative's reason and message."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.backend import KnativeBackend
from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.knative.manifests import KnativeOptions, service_name
from knflow_control_plane.errors import DeployFailed
from knflow_control_plane.ports import Artifact

from .conftest import NAMESPACE

IMAGE = "registry.knflow.test/knflow/huge@sha256:" + "1" * 64


async def test_an_unschedulable_revision_fails_the_deploy_with_knatives_reason(
    admin: KubeClient, knflow_client: KubeClient
) -> None:
    action = ActionSpec(name="huge", version="v1", entrypoint="main:handler", options={"cpu": "64"})
    backend = KnativeBackend(knflow_client, KnativeOptions(namespace=NAMESPACE), ready_timeout=120)
    try:
        await backend.deploy(action, Artifact(kind="image", location=IMAGE))
        raise AssertionError("a revision asking for 64 CPUs was deployed")
    except DeployFailed as failed:
        error = str(failed)
    name = service_name("huge", "v1")
    # Knative's Ready reason is RevisionFailed, or RevisionMissing once it settles; the revision's words
    # come with either.
    assert re.search(f"Knative Service {name} is not ready: Revision(Failed|Missing): ", error), error
    assert f'Revision "{name}-00001" failed with message' in error
    assert "Insufficient cpu" in error or "no nodes available to schedule pods" in error

    # What Knative made of it, each owned by the one before.
    def path(api_version: str, plural: str, name: str) -> str:
        return resource_path(api_version, plural, NAMESPACE, name)

    configuration = await admin.get(path("serving.knative.dev/v1", "configurations", name))
    revision = await admin.get(path("serving.knative.dev/v1", "revisions", f"{name}-00001"))
    deployment = await admin.get(path("apps/v1", "deployments", f"{name}-00001-deployment"))
    assert configuration["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert revision["metadata"]["ownerReferences"][0]["name"] == name
    assert deployment["metadata"]["ownerReferences"][0]["name"] == f"{name}-00001"
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert containers["function"]["image"] == IMAGE
    assert containers["function"]["resources"]["requests"]["cpu"] == "64"
    assert "queue-proxy" in containers  # Knative's sidecar, injected by its controller
    ready = {c["type"]: c for c in revision["status"]["conditions"]}["ResourcesAvailable"]
    assert (ready["status"], ready["reason"]) == ("False", "Unschedulable")


async def test_a_revision_whose_container_exits_fails_the_deploy_with_knatives_reason(
    admin: KubeClient, knflow_client: KubeClient, runtime_image: str
) -> None:
    # The runtime image without the action's code: the function container exits at start.
    action = ActionSpec(name="exits", version="v1", entrypoint="missing_module:handler")
    backend = KnativeBackend(knflow_client, KnativeOptions(namespace=NAMESPACE), ready_timeout=120)
    try:
        await backend.deploy(action, Artifact(kind="image", location=runtime_image))
        raise AssertionError("a revision whose container exits was deployed")
    except DeployFailed as failed:
        error = str(failed)
    name = service_name("exits", "v1")
    assert re.search(f"Knative Service {name} is not ready: Revision(Failed|Missing): ", error), error
    assert f'Revision "{name}-00001" failed with message' in error
    healthy = await container_health(admin, f"{name}-00001")
    assert (healthy.get("status"), healthy.get("reason")) == ("False", "ExitCode1"), healthy
    assert healthy["message"] in error
    assert "No module named 'missing_module'" in error  # the runtime's own words, through Knative


async def container_health(admin: KubeClient, revision: str, within: float = 30.0) -> dict[str, Any]:
    """The revision's ``ContainerHealthy`` condition, once it gives a reason: the Service can report the
    revision failed (its message is the deploy's error) a moment before the revision's own condition
    says why (a CI run read it without its ``reason``)."""
    deadline = time.monotonic() + within
    while True:
        found = await admin.get(resource_path("serving.knative.dev/v1", "revisions", NAMESPACE, revision))
        conditions = {c["type"]: c for c in found.get("status", {}).get("conditions", [])}
        healthy: dict[str, Any] = conditions.get("ContainerHealthy", {})
        if "reason" in healthy or time.monotonic() > deadline:
            return healthy
        await asyncio.sleep(0.5)
