"""The cluster path end to end, against a real API server: a workflow deployed with the kaniko builder
and the knative backend (as knflow's own ServiceAccount, with the RBAC of ``manifests/base``), built by
a Kaniko Job, served by a Knative Service, triggered over HTTP; failed builds and unready Services fail
the deployment with their reasons; undeploy, drift repair and garbage collection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from knflow._loader import load_file
from knflow_control_plane.adapters.knative.backend import KnativeBackend
from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.knative.manifests import service_name
from knflow_control_plane.bootstrap import ControlPlane, build
from knflow_control_plane.entrypoints.api import create_app
from knflow_control_plane.ports import HttpRequest
from knflow_control_plane.service.garbage import versions_in_use
from knflow_control_plane.settings import Settings
from tests.integration.objects.s3_service import s3_endpoint
from tests.services import kube_env

from .conftest import NAMESPACE
from .controllers import FakeCluster

FLOWS = Path(__file__).parent / "flows"
REGISTRY = "registry.test:5000/knflow"


def settings(state: Path, bucket: str) -> Settings:
    env = kube_env()
    return Settings(
        state_dir=state,
        poll_interval=0.2,
        backend="knative",
        builder="kaniko",
        object_store=f"s3://{bucket}",
        s3_endpoint=s3_endpoint(),
        s3_access_key="test",
        s3_secret_key="test",
        kube_url=env["KNFLOW_TEST_KUBE_URL"],
        kube_ca_file=Path(env["KNFLOW_TEST_KUBE_CA_FILE"]),
        kube_token_file=Path(env["KNFLOW_TEST_KUBE_KNFLOW_TOKEN_FILE"]),  # least privilege, as in the cluster
        functions_namespace=NAMESPACE,
        registry=REGISTRY,
        runtime_image="registry.test:5000/knflow-runtime:test",
        knative_ready_timeout=60.0,
        kaniko_timeout=120,
        knative_visibility="cluster-local",
    )


@asynccontextmanager
async def plane(state: Path, bucket: str, flow: str) -> AsyncIterator[tuple[ControlPlane, httpx.AsyncClient, str]]:
    """A started control plane with ``flows/{flow}.py`` registered; its API client; the workflow name."""
    config = settings(state, bucket)
    cp = build(config)
    await cp.start()
    try:
        project = load_file(FLOWS / f"{flow}.py")
        (spec,) = project.workflows.values()
        await cp.workflows.register(spec, project.files)
        app = create_app(config, control_plane=cp)
        app.state.control_plane = cp
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as client:
            yield cp, client, spec.name
    finally:
        await cp.stop()


async def ksvc(admin: KubeClient, action: str, version: str) -> dict[str, Any] | None:
    return await admin.find(
        resource_path("serving.knative.dev/v1", "services", NAMESPACE, service_name(action, version))
    )


async def test_a_workflow_deploys_as_knative_services_and_answers_over_http(
    cluster: FakeCluster, admin: KubeClient, bucket: tuple[str, Any], tmp_path: Path
) -> None:
    async with plane(tmp_path / "cp", bucket[0], "greet") as (cp, client, workflow):
        deployed = await cp.workflows.deploy(workflow)
        assert deployed["status"] == "ready", deployed
        assert len(cluster.builds) == 2  # one Kaniko Job per action version

        spec = await cp.workflows.spec(workflow)
        greet = spec.actions["greet"]
        service = await ksvc(admin, "greet", greet.version)
        assert service is not None
        assert service["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
        template = service["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"] == "3"
        assert template["spec"]["containerConcurrency"] == 2
        image = template["spec"]["containers"][0]["image"]
        assert image.startswith(f"{REGISTRY}/greet@sha256:")  # deployed by digest
        record = await cp.store.get_action_version(cp.settings.project, "greet", greet.version)
        assert record is not None and record.build_status == "ready"
        assert (record.artifact or {})["location"] == image
        assert "kaniko Job" in record.build_logs

        reply = await client.post("/hooks/greet", json={"name": "knative"})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"greeting": "HELLO KNATIVE!"}

        # Drift: the Service deleted by hand is re-created by the next invocation that misses it.
        await admin.delete(
            resource_path("serving.knative.dev/v1", "services", NAMESPACE, service_name("greet", greet.version))
        )
        await cluster.gone(service_name("greet", greet.version))
        reply = await client.post("/hooks/greet", json={"name": "again"})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"greeting": "HELLO AGAIN!"}
        assert await ksvc(admin, "greet", greet.version) is not None
        assert cluster.started.count(service_name("greet", greet.version)) == 2  # re-created, started again

        backend = cp.backend
        assert isinstance(backend, KnativeBackend)
        status = await backend.status("greet", greet.version)
        assert status.ready and status.url and status.details["service"] == service_name("greet", greet.version)

        # Garbage collection keeps what is in use and deletes the rest.
        shout = spec.actions["shout"]
        in_use = await versions_in_use(cp.store, cp.settings.project)
        assert in_use == {("greet", greet.version), ("shout", shout.version)}
        assert await backend.collect_garbage(in_use) == []
        # Undeploy collects in the background: no deployment and no unfinished run use either version.
        await cp.workflows.undeploy(workflow)
        assert await versions_in_use(cp.store, cp.settings.project) == set()
        await cluster.gone(service_name("shout", shout.version))
        await cluster.gone(service_name("greet", greet.version))
        assert cp.garbage is not None
        assert sorted(cp.garbage.deleted) == sorted(service_name(a, v) for a, v in in_use)
        assert await ksvc(admin, "shout", shout.version) is None

        await backend.undeploy("greet", greet.version)  # a no-op: collected already
        assert await ksvc(admin, "greet", greet.version) is None
        assert not (await backend.status("greet", greet.version)).ready
        # A later invocation of an undeployed version (a retried run) brings its Service back.
        request = HttpRequest({"ce-specversion": "1.0"}, b"")
        answer = await backend.invoke("greet", greet.version, request, 30.0)
        assert answer.status == 400  # the runtime answered (a malformed event), so it was re-created
        assert await ksvc(admin, "greet", greet.version) is not None


async def test_a_failed_kaniko_job_fails_the_deployment_with_its_reason_and_logs(
    cluster: FakeCluster, admin: KubeClient, bucket: tuple[str, Any], tmp_path: Path
) -> None:
    cluster.fail_builds.add("unbuildable")
    async with plane(tmp_path / "cp", bucket[0], "broken_build") as (cp, _, workflow):
        deployed = await cp.workflows.deploy(workflow)
        assert deployed["status"] == "failed"
        assert "BackoffLimitExceeded" in deployed["error"]
        assert "exited with 1: error building image" in deployed["error"]
        version = (await cp.workflows.spec(workflow)).actions["unbuildable"].version
        record = await cp.store.get_action_version(cp.settings.project, "unbuildable", version)
        assert record is not None and record.build_status == "failed"
        assert "kaniko Job" in record.build_logs
        assert await ksvc(admin, "unbuildable", version) is None  # nothing deployed


async def test_a_service_that_is_not_ready_fails_the_deployment_with_its_reason(
    cluster: FakeCluster, admin: KubeClient, bucket: tuple[str, Any], tmp_path: Path
) -> None:
    cluster.fail_services.add("unready")
    async with plane(tmp_path / "cp", bucket[0], "broken_deploy") as (cp, _, workflow):
        deployed = await cp.workflows.deploy(workflow)
        assert deployed["status"] == "failed"
        assert "is not ready: RevisionFailed" in deployed["error"]
        assert "Back-off pulling image" in deployed["error"]
        deployment = await cp.store.get_deployment(cp.settings.project, workflow)
        assert deployment is not None and deployment.status == "failed"
