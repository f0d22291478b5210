"""Custom triggers on the cluster path: ``KnativeSources`` keeps one ContainerSource per deployed
``@trigger``, accepted by the real Knative Eventing CRD schema and managed with the control plane's own
ServiceAccount (the RBAC of ``manifests/base``)."""

from __future__ import annotations

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.knative.sources import API_VERSION, PLURAL, KnativeSources, render_source
from knflow_control_plane.ports import Artifact

from .test_rbac import FUNCTIONS, knflow

__all__ = ["knflow"]

SINK = "http://knflow.knflow.svc.cluster.local/v1/events"
IMAGE = "registry.test:5000/knflow/ticks@sha256:" + "2" * 64


def trigger(version: str) -> ActionSpec:
    options = {"env": {"REGION": "eu"}, "secrets": ["feed-credentials"]}
    return ActionSpec(name="new_files", version=version, entrypoint="flows:new_files", options=options)


def test_the_container_source_runs_the_runtime_s_source_entrypoint_with_the_sink() -> None:
    rendered = render_source("ingest/new_files", trigger("aaaa1111"), IMAGE, SINK, FUNCTIONS)
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    assert rendered["kind"] == "ContainerSource" and rendered["spec"]["sink"] == {"uri": SINK}
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "knflow_runtime.source"]
    assert container["args"] == ["--trigger", "flows:new_files", "--name", "new_files"]
    assert {"name": "REGION", "value": "eu"} in container["env"]
    assert all(e["name"] != "K_SINK" for e in container["env"])  # injected by the ContainerSource controller
    assert container["envFrom"] == [{"secretRef": {"name": "feed-credentials"}}]
    assert rendered["metadata"]["annotations"]["knflow.dev/trigger"] == "ingest/new_files"
    assert len(rendered["metadata"]["name"]) <= 63


async def test_a_trigger_s_container_source_is_created_updated_and_deleted(knflow: KubeClient) -> None:
    runner = KnativeSources(knflow, FUNCTIONS)
    collection = resource_path(API_VERSION, PLURAL, FUNCTIONS)
    await runner.stop("ingest/new_files")  # an earlier run's leftovers
    image = Artifact(kind="image", location=IMAGE)
    await runner.start("ingest/new_files", trigger("aaaa1111"), image, {"K_SINK": SINK})
    await runner.start("ingest/new_files", trigger("aaaa1111"), image, {"K_SINK": SINK})  # idempotent
    first = render_source("ingest/new_files", trigger("aaaa1111"), IMAGE, SINK, FUNCTIONS)["metadata"]["name"]
    stored = await knflow.get(f"{collection}/{first}")
    assert stored["spec"]["sink"]["uri"] == SINK
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE

    # A new version replaces the old one's source.
    await runner.start("ingest/new_files", trigger("bbbb2222"), image, {"K_SINK": SINK})
    names = {
        i["metadata"]["name"]
        for i in (await knflow.list(collection, label_selector="app.kubernetes.io/component=trigger"))["items"]
    }
    second = render_source("ingest/new_files", trigger("bbbb2222"), IMAGE, SINK, FUNCTIONS)["metadata"]["name"]
    assert second in names and first not in names
    assert runner.running() == {"ingest/new_files"}

    await runner.close()  # a control plane stopping leaves the trigger running
    assert await knflow.find(f"{collection}/{second}") is not None
    await runner.stop("ingest/new_files")  # an undeploy deletes it
    assert await knflow.find(f"{collection}/{second}") is None
