"""Knative's own webhook judges every Service knflow writes: each option the SDK accepts for a function
(scale bounds, target, metric, concurrency, timeouts, resources, GPU) is admitted, or refused at deploy
with Knative's message, before anything is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knflow._loader import load_file
from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.backend import KnativeBackend
from knflow_control_plane.adapters.knative.kaniko_manifests import image_repository
from knflow_control_plane.adapters.knative.kubernetes import KubeClient, resource_path
from knflow_control_plane.adapters.knative.manifests import KnativeOptions, render_service
from knflow_control_plane.bootstrap import build
from knflow_control_plane.errors import DeployFailed
from knflow_control_plane.settings import Settings
from tests.integration.objects.s3_service import s3_endpoint
from tests.services import knative_env

from .conftest import NAMESPACE

FLOWS = Path(__file__).parent / "flows"

#: Options the SDK accepts, and what Knative's webhook says of the Service knflow makes of them: None
#: when it admits it, else a fragment of its refusal.
CASES: list[tuple[dict[str, Any], str | None]] = [
    ({}, None),
    ({"concurrency": 1000, "max_instances": 10}, None),
    ({"concurrency": 1001}, "expected 0 <= 1001 <= 1000: spec.template.spec.containerConcurrency"),
    ({"min_scale": 3, "max_instances": 3}, None),
    ({"max_instances": 100000}, None),
    ({"target": 50, "concurrency": 10}, None),
    ({"scale_metric": "rps", "target": 200}, None),
    ({"scale_down_delay": 3600}, None),
    ({"scale_to_zero_retention": 3600}, None),
    (
        {"scale_to_zero_retention": 7200},
        "expected 0s <= 7200s <= 1h0m0s: spec.template.metadata.annotations"
        ".autoscaling.knative.dev/scale-to-zero-pod-retention-period",
    ),
    ({"timeout": 3600}, None),
    ({"timeout": 0.5}, None),
    ({"cpu": "250m", "memory": "256Mi"}, None),
    ({"cpu": "64", "memory": "1Ti"}, None),
    ({"gpu": 1}, None),
]


def _action(index: int, options: dict[str, Any]) -> ActionSpec:
    return ActionSpec(name=f"case{index}", version=f"v{index}", entrypoint="main:handler", options=options)


@pytest.mark.parametrize(("index", "options", "refusal"), [(i, o, r) for i, (o, r) in enumerate(CASES)])
async def test_the_webhook_admits_or_refuses_each_option(
    knflow_client: KubeClient, index: int, options: dict[str, Any], refusal: str | None
) -> None:
    backend = KnativeBackend(knflow_client, KnativeOptions(namespace=NAMESPACE))
    action = _action(index, options)
    if refusal is None:
        await backend.preflight(action)
    else:
        with pytest.raises(DeployFailed) as caught:
            await backend.preflight(action)
        assert "Knative refused the Service of" in str(caught.value)
        assert "admission webhook" in str(caught.value) and refusal in str(caught.value)


@pytest.mark.parametrize("name", ["x", "X", "_"])
async def test_a_one_character_action_name_makes_an_image_reference_knative_parses(
    knflow_client: KubeClient, name: str
) -> None:
    options = KnativeOptions(namespace=NAMESPACE)
    action = ActionSpec(name=name, version="v1", entrypoint="main:handler")
    await KnativeBackend(knflow_client, options).preflight(action)  # its placeholder image
    # The built image's reference too, with a registry of no path (its repository is the name alone).
    image = f"{image_repository('registry.test:5000', name)}@sha256:{'0' * 64}"
    services = resource_path("serving.knative.dev/v1", "services", NAMESPACE)
    await knflow_client.create(services, render_service(action, image, options), dry_run=True)


async def test_a_refused_option_fails_the_deploy_before_anything_is_built(
    admin: KubeClient, bucket: str, tmp_path: Path
) -> None:
    env = knative_env()
    config = Settings(
        state_dir=tmp_path / "cp",
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
        registry="registry.test:5000/knflow",
    )
    cp = build(config)
    await cp.start()
    try:
        project = load_file(FLOWS / "too_concurrent.py")
        (spec,) = project.workflows.values()
        await cp.workflows.register(spec, project.files)
        deployed = await cp.workflows.deploy(spec.name)
    finally:
        await cp.stop()
    assert deployed["status"] == "failed"
    assert "Knative refused the Service of crowded" in deployed["error"]
    assert "admission webhook" in deployed["error"]
    assert "containerConcurrency" in deployed["error"]
    jobs = await admin.list(resource_path("batch/v1", "jobs", NAMESPACE))
    assert jobs["items"] == []  # refused before the build
    services = await admin.list(resource_path("serving.knative.dev/v1", "services", NAMESPACE))
    assert services["items"] == []
