"""End to end with only real controllers: a two-step workflow deployed with the kaniko builder and the
knative backend is built by a real Job (its pod runs on the test node: reads the context from S3, pushes
the image, writes the digest to its termination log), served by a real Revision's pods (queue-proxy
included, scaled by Knative's autoscaler, to zero when idle, reached through its activator when cold) and
run over an HTTP trigger. What is not Knative's or Kubernetes' own: the ingress, and the cluster DNS and
Service routing that CoreDNS and kube-proxy would do (``scripts/services/knative/ingress.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from knflow._loader import load_file
from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.knative.manifests import service_name
from knflow_control_plane.bootstrap import build
from knflow_control_plane.entrypoints.api import create_app
from knflow_control_plane.settings import Settings
from tests.integration.objects.s3_service import s3_endpoint
from tests.services import knative_env

from .conftest import NAMESPACE

FLOWS = Path(__file__).parent / "flows"
ACTIVATOR_IP = "10.250.0.3"  # knative.sh's address of the activator on the node's bridge


def settings(state: Path, bucket: str, runtime_image: str, builder_image: str) -> Settings:
    """The control plane of a cluster: knative backend, Kaniko-style build Jobs, S3 contexts."""
    env = knative_env()
    return Settings(
        state_dir=state,
        poll_interval=0.2,
        backend="knative",
        builder="kaniko",
        object_store=f"s3://{bucket}",
        s3_endpoint=s3_endpoint(),
        s3_access_key="test",
        s3_secret_key="test",
        kube_url=env["KNFLOW_TEST_KNATIVE_URL"],
        kube_ca_file=Path(env["KNFLOW_TEST_KNATIVE_CA_FILE"]),
        kube_token_file=Path(env["KNFLOW_TEST_KNATIVE_KNFLOW_TOKEN_FILE"]),
        functions_namespace=NAMESPACE,
        registry=f"{env['KNFLOW_TEST_KNATIVE_REGISTRY']}/knflow",
        runtime_image=runtime_image,
        kaniko_image=builder_image,
        kaniko_s3_endpoint=env["KNFLOW_TEST_KNATIVE_S3"],
        kaniko_insecure_registry=True,
        kaniko_timeout=300,
        knative_ready_timeout=300.0,
        knative_gateway=env["KNFLOW_TEST_KNATIVE_INGRESS"],
        gc_interval_seconds=0,
    )


async def test_a_workflow_is_built_by_a_job_served_by_a_revision_and_run_over_http(
    admin: KubeClient, bucket: str, tmp_path: Path, runtime_image: str, builder_image: str
) -> None:
    config = settings(tmp_path / "cp", bucket, runtime_image, builder_image)
    cp = build(config)
    await cp.start()
    try:
        project = load_file(FLOWS / "relay.py")
        (spec,) = project.workflows.values()
        await cp.workflows.register(spec, project.files)
        deployed = await cp.workflows.deploy(spec.name)
        spec = await cp.workflows.spec(spec.name)
        assert deployed["status"] == "ready", deployed
        for action in spec.actions.values():
            record = await cp.store.get_action_version(cp.settings.project, action.name, action.version)
            assert record is not None and record.build_status == "ready"
            assert "pushed " in record.build_logs  # the build pod's own log, read through the kubelet
            assert (record.artifact or {})["location"].startswith(config.registry + "/")
        name = service_name("double", spec.actions["double"].version)
        pods = await admin.list(
            resource_path("v1", "pods", NAMESPACE), label_selector=f"serving.knative.dev/service={name}"
        )
        assert pods["items"], "no pod of the revision"
        containers = {c["name"] for c in pods["items"][0]["spec"]["containers"]}
        assert containers == {"function", "queue-proxy"}

        app = create_app(config, control_plane=cp)
        app.state.control_plane = cp
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as client:
            reply = await client.post("/hooks/relay", json={"x": 20})
            assert reply.status_code == 200, reply.text
            assert reply.json() == {"result": 42}

            # Idle, the revision scales to zero (knative.sh's 6 s window and grace period): pods gone,
            # Service kept, the revision's public Endpoints are the activator's; the next run is held by
            # the activator while a pod starts again.
            await _no_pods(admin, name)
            assert await admin.find(resource_path("serving.knative.dev/v1", "services", NAMESPACE, name))
            public = await admin.get(resource_path("v1", "endpoints", NAMESPACE, f"{name}-00001"))
            assert [a["ip"] for s in public["subsets"] for a in s["addresses"]] == [ACTIVATOR_IP]
            reply = await client.post("/hooks/relay", json={"x": 1})
            assert reply.status_code == 200, reply.text
            assert reply.json() == {"result": 4}
            pods = await admin.list(
                resource_path("v1", "pods", NAMESPACE), label_selector=f"serving.knative.dev/service={name}"
            )
            assert pods["items"], "the cold request brought no pod back"
    finally:
        await cp.stop()


async def _no_pods(admin: KubeClient, service: str) -> None:
    pods = resource_path("v1", "pods", NAMESPACE)
    for _ in range(360):
        listing = await admin.list(pods, label_selector=f"serving.knative.dev/service={service}")
        if not listing["items"]:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{service} did not scale to zero: {[p['metadata']['name'] for p in listing['items']]}")
