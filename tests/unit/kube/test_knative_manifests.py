"""Rendering Knative Services of action versions: pure functions, no API server."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.manifests import (
    KnativeOptions,
    label_value,
    placeholder_image,
    readiness,
    render_service,
    repository_name,
    service_name,
    timeout_seconds,
)

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def spec(name: str = "resize", version: str = "abc123def4567890", **options: Any) -> ActionSpec:
    return ActionSpec(name=name, version=version, entrypoint="pipeline:resize", options=options)


@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,62}", fullmatch=True),
    version=st.from_regex(r"[a-z0-9]{1,40}", fullmatch=True),
)
def test_service_names_are_dns_1035_labels_short_enough_for_revisions(name: str, version: str) -> None:
    svc = service_name(name, version)
    assert DNS_1035.match(svc), svc
    assert len(svc) + len("-00001") <= 63
    assert service_name(name, version) == svc  # stable


def test_names_that_slug_alike_stay_apart() -> None:
    assert service_name("My_Action", "v1") != service_name("my-action", "v1")
    assert service_name("my-action", "v1") == "my-action-v1"
    assert service_name("resize", "a" * 40) == "resize-" + "a" * 12


def test_label_values_keep_valid_names_and_slug_the_rest() -> None:
    assert label_value("resize_v2") == "resize_v2"
    assert label_value("_private") == "private"
    assert label_value("_1") == "a-1"


def test_service_carries_scale_concurrency_timeout_resources_env_and_secrets() -> None:
    action = spec(
        cpu="500m",
        memory="512Mi",
        gpu=1,
        timeout="90s",
        concurrency=4,
        max_instances=7,
        env={"MODE": "fast"},
        secrets=["db-creds"],
    )
    options = KnativeOptions(namespace="fns", cluster_local=True, scale_down_delay="30s")
    ksvc = render_service(action, "reg/resize@sha256:" + "0" * 64, options)

    assert ksvc["apiVersion"] == "serving.knative.dev/v1"
    assert ksvc["metadata"]["namespace"] == "fns"
    labels = ksvc["metadata"]["labels"]
    assert labels["knflow.dev/action"] == "resize"
    assert labels["knflow.dev/version"] == action.version
    assert labels["app.kubernetes.io/part-of"] == "knflow"
    assert labels["networking.knative.dev/visibility"] == "cluster-local"
    template = ksvc["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "autoscaling.knative.dev/min-scale": "0",
        "autoscaling.knative.dev/max-scale": "7",
        "autoscaling.knative.dev/target": "4",
        "autoscaling.knative.dev/metric": "concurrency",
        "autoscaling.knative.dev/scale-down-delay": "30s",
    }
    pod = template["spec"]
    assert pod["containerConcurrency"] == 4
    assert pod["timeoutSeconds"] == 90
    (container,) = pod["containers"]
    assert container["image"].startswith("reg/resize@sha256:")
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]  # Knative sets $PORT from it
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env == {"MODE": "fast", "KNFLOW_ACTION": "pipeline:resize", "KNFLOW_CONCURRENCY": "4"}
    assert "PORT" not in env  # reserved by Knative
    # a named secret is one variable read from the project's Secret, never its value in the manifest
    secret_ref = {"secretKeyRef": {"name": "knflow-secrets", "key": "db-creds"}}
    assert [e for e in container["env"] if "value" not in e] == [{"name": "db-creds", "valueFrom": secret_ref}]
    assert "envFrom" not in container
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"memory": "512Mi", "nvidia.com/gpu": "1"},
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"


def test_public_service_without_resources_has_no_visibility_label_nor_resources() -> None:
    ksvc = render_service(spec(), "img@sha256:" + "1" * 64, KnativeOptions())
    assert "networking.knative.dev/visibility" not in ksvc["metadata"]["labels"]
    assert "resources" not in ksvc["spec"]["template"]["spec"]["containers"][0]


def test_timeout_is_capped_by_the_platform_request_limit() -> None:
    assert timeout_seconds(0.2, 600) == 1
    assert timeout_seconds(59.5, 600) == 60
    assert timeout_seconds(3600, 600) == 600


def test_readiness_waits_for_the_observed_generation() -> None:
    def ksvc(generation: int, observed: int, status: str, **extra: Any) -> dict[str, Any]:
        condition = {"type": "Ready", "status": status, **extra}
        return {
            "metadata": {"generation": generation},
            "status": {"observedGeneration": observed, "conditions": [condition], "url": "http://f"},
        }

    assert not readiness({"metadata": {"generation": 1}}).settled
    assert not readiness(ksvc(2, 1, "True")).settled  # an older generation's Ready says nothing
    assert not readiness(ksvc(2, 2, "Unknown")).settled
    ok = readiness(ksvc(2, 2, "True"))
    assert ok.settled and ok.ready and ok.url == "http://f"
    failed = readiness(ksvc(1, 1, "False", reason="RevisionMissing", message="image pull failed"))
    assert failed.settled and not failed.ready
    assert (failed.reason, failed.message) == ("RevisionMissing", "image pull failed")


def test_a_failed_service_says_why_its_revision_failed() -> None:
    # What Knative v0.50 writes when the revision's pod cannot be scheduled.
    service = {
        "metadata": {"generation": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {
                    "type": "ConfigurationsReady",
                    "status": "False",
                    "reason": "RevisionFailed",
                    "message": 'Revision "f-00001" failed with message: no nodes available to schedule pods.',
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "RevisionMissing",
                    "message": 'Configuration "f" does not have any ready Revision.',
                },
            ],
        },
    }
    state = readiness(service)
    assert state.settled and not state.ready and state.reason == "RevisionMissing"
    assert state.message == (
        'Configuration "f" does not have any ready Revision. '
        'Revision "f-00001" failed with message: no nodes available to schedule pods.'
    )


def test_one_character_names_give_repositories_of_two_characters_or_more() -> None:
    # Image reference parsers (Knative's webhook, Kaniko) refuse a one-character repository.
    assert placeholder_image("x") != placeholder_image("_")
    for name in ("x", "X", "_"):
        repository = repository_name(name)
        assert len(repository) >= 2 and re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", repository), repository
        assert placeholder_image(name).startswith(f"preflight.knflow.invalid/{repository}@sha256:")
    assert repository_name("resize") == "resize"
