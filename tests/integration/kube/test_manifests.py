"""``manifests/``: every overlay renders with ``kubectl kustomize``, every rendered object passes a
server-side dry run against the real API server (Knative CRD objects included), and every core object
passes ``kubernetes-validate`` offline, strictly."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, resource_path
from tests.kube import apply_base, kubectl_apply
from tests.services import kube_env

ROOT = Path(__file__).resolve().parents[3]
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/prod", "examples/eventing"]
K8S_VERSION = "1.34.0"


def render(path: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kube_env()["KNFLOW_TEST_KUBECTL"], "kustomize", str(ROOT / "manifests" / path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_renders(path: str) -> None:
    objects = render(path)
    assert objects
    for obj in objects:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]


def test_overlays_configure_the_cluster_backends() -> None:
    for overlay in ("overlays/dev", "overlays/prod"):
        config = next(
            o for o in render(overlay) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "knflow-config"
        )
        assert config["data"]["KNFLOW_BACKEND"] == "knative"
        assert config["data"]["KNFLOW_BUILDER"] == "kaniko"
    (deployment,) = [o for o in render("base") if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "knflow-control-plane"


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_core_objects_pass_kubernetes_validate(path: str) -> None:
    for obj in render(path):
        group = obj["apiVersion"].rpartition("/")[0]
        if group.endswith("knative.dev"):
            continue  # CRD objects: checked by the API server below
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.fixture
async def knative_serving_namespace(admin: KubeClient) -> None:
    """Knative Serving's namespace, as an installation of Knative leaves it (the dev overlay patches its config)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "knative-serving"}}
    try:
        await admin.create(resource_path("v1", "namespaces"), namespace)
    except KubeApiError as exc:
        if exc.code != 409:
            raise


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
@pytest.mark.usefixtures("knative_serving_namespace")
def test_every_object_passes_a_server_side_dry_run(path: str) -> None:
    apply_base()  # the namespaces exist, as after a first apply
    rendered = yaml.safe_dump_all(render(path))
    out = kubectl_apply(rendered, "--dry-run=server", "--validate=strict", check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(server dry run)") == len(render(path)), out.stdout
