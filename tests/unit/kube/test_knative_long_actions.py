"""Services of long actions (async reply mode) and the SDK's autoscaling options in the render."""

from __future__ import annotations

from typing import Any

from knflow._options import make_options
from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.manifests import KnativeOptions, is_long, render_service

OPTIONS = KnativeOptions(max_request_seconds=600, scale_down_delay="30s")


def rendered(**options: Any) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    spec = ActionSpec(name="a", version="v1", entrypoint="m:a", options=make_options(where="a", **options).as_dict())
    service = render_service(spec, "r/a@sha256:00", OPTIONS)
    template = service["spec"]["template"]
    container = template["spec"]["containers"][0]
    annotations = {k.rpartition("/")[2]: v for k, v in template["metadata"]["annotations"].items()}
    return annotations, template["spec"], {e["name"]: e["value"] for e in container["env"]}


def test_a_long_action_keeps_its_pod_for_its_timeout_and_drains_for_the_grace_period() -> None:
    annotations, pod, env = rendered(timeout="45m")
    assert pod["timeoutSeconds"] == 600  # the request only carries the 202
    assert annotations["scale-down-delay"] == "2700s"
    assert env["KNFLOW_DRAIN_SECONDS"] == "600"
    assert rendered(timeout="3h")[0]["scale-down-delay"] == "3600s"  # Knative's bound


def test_a_short_action_is_rendered_as_before() -> None:
    annotations, pod, env = rendered(timeout="60s")
    assert pod["timeoutSeconds"] == 60
    assert annotations["scale-down-delay"] == "30s"  # the backend's setting
    assert "KNFLOW_DRAIN_SECONDS" not in env
    assert not is_long(ActionSpec(name="a", version="v", entrypoint="m:a", options={"timeout": 600}), OPTIONS)


def test_the_sdk_autoscaling_options_become_annotations() -> None:
    annotations, _, _ = rendered(
        timeout="45m",
        max_instances=4,
        min_scale=1,
        scale_metric="rps",
        target=50,
        scale_down_delay="90s",
        scale_to_zero_retention="1m30s",
    )
    assert annotations["min-scale"] == "1"
    assert annotations["metric"] == "rps"
    assert annotations["target"] == "50"
    assert annotations["scale-down-delay"] == "90s"  # the action's own wins, long or not
    assert annotations["scale-to-zero-pod-retention-period"] == "90s"
